"""Where a step's pod may run: its node selector, tolerations and node affinity (part of `controlplane.pipeline_rules`).

Two kinds of rule. The cluster's own nodes are off limits: a pipeline may not
tolerate the control plane's taints or the ones the node controller puts on
cordoned and failing nodes, select or require the control plane's labels, or
pin itself to one node by name; and a toleration without a key, or with an
empty one (the same to Kubernetes), tolerates every taint. These rules judge
the values as written, so no placement field takes `{{...}}`: Argo substitutes
it when a run starts, with that run's parameters, after every check.

And each field is checked as the API server checks a pod spec
(`ValidatePodSpec`: label keys and values, a toleration's operator and value,
a requirement's values, label values all, for its operator) and as the
scheduler reads a requirement (`labels.NewRequirement`: Gt/Lt take one whole
number, so digits only): Argo creates each step's pod only when the run reaches it,
so a field the API server refuses fails every run, and one the scheduler
cannot read leaves the pod Pending until the step's deadline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from controlplane import pipeline_refs
from controlplane.errors import Diagnostic
from controlplane.loading.sources import LoadedSpec
from controlplane.specs.kube_syntax import INT64_MAX, label_value_problem, qualified_name_problem
from controlplane.specs.pipeline_steps import Container, NodeRequirement, Toleration

CLUSTER_TAINTS = ("node-role.kubernetes.io/", "node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")
"""Taints a pipeline may not tolerate: the control plane's, and those the cluster puts on cordoned, failing and
uninitialized nodes (`node.kubernetes.io/unschedulable`, `…/not-ready`, `…/disk-pressure`, …)."""

CLUSTER_NODE_LABELS = ("node-role.kubernetes.io/",)
"""Node label prefixes a pipeline may not select on or require: the control plane's."""

NODE_NAME_LABELS = frozenset({"kubernetes.io/hostname"})
"""Labels naming one node: selecting on them pins a step to a node of the cluster's choosing, not a pool."""

DIGITS = re.compile(r"[0-9]+")

HINT = "tolerate and select your team's node pools only (e.g. nvidia.com/gpu)"
CODE = "placement"

Path = pipeline_refs.Path


def _diag(loaded: LoadedSpec, path: Path, message: str, hint: str = HINT) -> Diagnostic:
    return pipeline_refs.diag(loaded, path, message, hint, CODE)


def _templated(loaded: LoadedSpec, path: Path, text: str | None) -> Iterator[Diagnostic]:
    if text is not None and "{{" in text:
        yield _diag(
            loaded,
            path,
            f"{text!r}: where a step runs takes no `{{{{...}}}}` (Argo would substitute a run's parameters into it "
            "after every check, so a run could choose the cluster's own nodes)",
            "write the value itself; for pools chosen per run, declare one step per pool and pick with `when`",
        )


def _node_label(loaded: LoadedSpec, path: Path, key: str) -> Iterator[Diagnostic]:
    """A node label key a step selects on or requires: well formed, and not the cluster's."""
    why = qualified_name_problem(key, "node label")
    if why is not None:
        yield _diag(loaded, path, f"{why}; the API server would refuse every run's pod", "e.g. nvidia.com/gpu.product")
    elif key.startswith(CLUSTER_NODE_LABELS):
        yield _diag(loaded, path, f"node label {key!r} is the cluster's")
    elif key in NODE_NAME_LABELS:
        yield _diag(loaded, path, f"node label {key!r} names a single node: a step may choose a pool, not a node")


def _label_value(loaded: LoadedSpec, path: Path, value: str, what: str) -> Iterator[Diagnostic]:
    why = label_value_problem(value, what)
    if why is not None:
        yield _diag(loaded, path, f"{why}; every run's pod would be refused", "e.g. gpu or a100")


def _toleration(loaded: LoadedSpec, path: Path, toleration: Toleration) -> Iterator[Diagnostic]:
    key = toleration.key
    for field in ("key", "value"):
        yield from _templated(loaded, (*path, field), getattr(toleration, field))
    if not key:  # Kubernetes reads an empty key as none: with Exists every taint, with Equal a refused pod
        yield _diag(loaded, path, "a toleration without a key (or with an empty one) tolerates every taint")
        return
    if "{{" in key:
        return
    why = qualified_name_problem(key, "taint")
    if why is not None:
        yield _diag(loaded, (*path, "key"), f"{why}; every run's pod would be refused", "e.g. nvidia.com/gpu")
    elif key.startswith(CLUSTER_TAINTS):
        yield _diag(loaded, (*path, "key"), f"taint {key!r} is the cluster's")
    value = toleration.value
    if toleration.operator == "Exists" and value:
        yield _diag(
            loaded,
            (*path, "value"),
            f"a toleration with operator Exists takes no value (here {value!r}): the API server refuses the pod",
            "remove `value`, or use operator Equal to tolerate that value only",
        )
    elif toleration.operator == "Equal" and value and "{{" not in value:
        yield from _label_value(loaded, (*path, "value"), value, "taint value")


def _whole_number(value: str) -> bool:
    """Whether `value` is a label value (no sign) that Go's `strconv.ParseInt(value, 10, 64)` reads."""
    return DIGITS.fullmatch(value) is not None and int(value) <= INT64_MAX


def _requirement(loaded: LoadedSpec, path: Path, req: NodeRequirement) -> Iterator[Diagnostic]:
    templated = [*_templated(loaded, (*path, "key"), req.key)]
    for i, value in enumerate(req.values):
        templated += _templated(loaded, (*path, "values", i), value)
    yield from templated
    if templated:
        return
    yield from _node_label(loaded, (*path, "key"), req.key)
    op, values = req.operator, req.values
    malformed = [  # the API server checks every value as a label value, whatever the operator
        found
        for i, value in enumerate(values)
        for found in _label_value(loaded, (*path, "values", i), value, "node label value")
    ]
    yield from malformed
    if op in ("In", "NotIn") and not values:
        yield _diag(loaded, path, f"operator {op} needs `values`: the API server refuses the pod", "add values")
    elif op in ("Exists", "DoesNotExist") and values:
        yield _diag(
            loaded,
            (*path, "values"),
            f"operator {op} takes no `values`: the API server refuses the pod",
            "remove `values`, or use In",
        )
    elif op in ("Gt", "Lt") and (len(values) != 1 or not (malformed or _whole_number(values[0]))):
        yield _diag(
            loaded,
            (*path, "values"),
            f"operator {op} needs exactly one whole number of digits in `values` (here {values!r}): otherwise the "
            "API server refuses the pod, or the scheduler cannot read it and the step never starts",
            'e.g. values: ["8"]',
        )


def check(loaded: LoadedSpec, step: Container, base: Path) -> Iterator[Diagnostic]:
    """Every placement rule the container `step` (at `base`) breaks."""
    for key, value in step.node_selector.items():
        path = (*base, "nodeSelector", key)
        found = [*_templated(loaded, path, key), *_templated(loaded, path, value)]
        yield from found
        if not found:
            yield from _node_label(loaded, path, key)
            yield from _label_value(loaded, path, value, "node selector value")
    for j, toleration in enumerate(step.tolerations):
        yield from _toleration(loaded, (*base, "tolerations", j), toleration)
    if step.affinity is not None:
        for j, req in enumerate(step.affinity.required):
            yield from _requirement(loaded, (*base, "affinity", "required", j), req)
        for j, preferred in enumerate(step.affinity.preferred):
            for k, req in enumerate(preferred.match):
                yield from _requirement(loaded, (*base, "affinity", "preferred", j, "match", k), req)
