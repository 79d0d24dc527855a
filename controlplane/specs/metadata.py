"""A spec's `metadata`: its name and tenant, and the labels and annotations copied onto its Kubernetes objects.

Labels and annotations reach every object a spec renders, so they are checked as the API server checks them
(syntax, size), and refused where they would change what mlcp or a controller does with the object: mlcp's own
keys (`mlcp.dev/`, which mlcp reads back from live objects) and the keys the controllers behind mlcp's objects
read as settings (KServe's, Knative's, Istio's, the notebook-controller's, Argo's), outside any field mlcp checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, Field

from controlplane.specs.kube_syntax import DnsLabel, label_value_problem, qualified_name_problem
from controlplane.specs.model import SpecModel, errors_at

MLCP_PREFIX = "mlcp.dev/"
"""The prefix of mlcp's own labels and annotations (`mlcp.dev/spec`, `mlcp.dev/adopted-namespace`, …): mlcp reads
them back from live objects, so a spec may set none."""

ANNOTATIONS_MAX_BYTES = 256 * 1024 - 8 * 1024
"""A spec's annotations in all, keys and values in UTF-8: the API server refuses an object whose annotations exceed
256 KiB, and mlcp adds its own (the source file's path, the commit, ...) to every object."""


CONTROLLER_ANNOTATIONS: dict[str, str] = {
    "serving.kserve.io/": "KServe's (deployment mode, autoscaler, storage, ...)",
    "serving.knative.dev/": "Knative's, behind KServe's Serverless mode",
    "autoscaling.knative.dev/": "Knative's autoscaler's, behind KServe's Serverless mode",
    "networking.knative.dev/": "Knative's networking's, behind KServe's Serverless mode",
    "features.knative.dev/": "Knative's, behind KServe's Serverless mode",
    "sidecar.istio.io/": "Istio's sidecar injection, for the pods KServe and the notebook-controller create",
    "notebooks.kubeflow.org/": "the notebook-controller's (routing, headers, last activity)",
    "kubeflow-resource-stopped": "the notebook-controller's (it stops the server; use a Notebook's `stopped`)",
    "workflows.argoproj.io/": "Argo Workflows' (pod name format, SSO RBAC rules on a ServiceAccount, ...)",
    "cronworkflows.argoproj.io/": "Argo's cron controller's (the schedule it last used)",
}
"""Annotation keys (a prefix ending in `/`, or a whole key) the controllers behind mlcp's objects read as settings:
copied from a spec onto an InferenceService, a Notebook, a WorkflowTemplate, a CronWorkflow or a tenant's
ServiceAccount they change what the controller does with it, outside any field mlcp checks. No spec may set them;
a setting a tenant needs becomes a spec field."""

CONTROLLER_LABELS: dict[str, str] = {
    "workflows.argoproj.io/": "Argo Workflows' (controller-instanceid chooses which workflow-controller runs a "
    "pipeline, or that none does; creator, creator-email and creator-preferred-username claim who submitted its runs)",
    "katib.kubeflow.org/": "Katib's (metrics-collector-injection on a namespace decides whether trials report their "
    "metrics; experiment and trial labels on pods say which trial a pod reports for)",
    "katib-metricscollector-injection": "Katib's (before v0.13: whether trials in the namespace report their metrics)",
}
"""Label keys (a prefix ending in `/`, or a whole key) the controllers behind mlcp's objects read, as
`CONTROLLER_ANNOTATIONS`: a CronWorkflow passes Argo's controller-instanceid and creator labels on to every run it
starts, and Katib injects its metrics collector only into pods of a namespace labelled as mlcp labels tenants'."""


def _controller_owned(key: str, what: str, owned: Mapping[str, str]) -> str | None:
    lowered = key.lower()
    for prefix, owner in owned.items():
        if lowered.startswith(prefix) if prefix.endswith("/") else lowered == prefix:
            return (
                f"{what} key {key!r} is {owner}: it changes what that controller does with the object, outside "
                "the fields mlcp checks, so a spec sets none"
            )
    return None


def _key_problem(key: str, what: str, any_case: bool = False) -> str | None:
    """Why `key` is not a label or annotation key a spec may set: not a qualified name, or one of mlcp's own."""
    problem = qualified_name_problem(key, what, any_case)
    if problem is None and key.lower().startswith(MLCP_PREFIX):
        return f"{what} key {key!r} is mlcp's own ({MLCP_PREFIX}*): mlcp sets and reads these, a spec sets none"
    return problem


def _labels(labels: dict[str, str]) -> dict[str, str]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, value in labels.items():
        problem = _key_problem(key, "label") or _controller_owned(key, "label", CONTROLLER_LABELS)
        if problem is None and (problem := label_value_problem(value, "label value")) is not None:
            problem = f"{problem} (key {key!r})"
        if problem is not None:
            problems.append(((key,), problem))
    if problems:
        raise errors_at(problems)
    return labels


def _annotations(annotations: dict[str, str]) -> dict[str, str]:
    problems = [
        ((key,), problem)
        for key in annotations
        if (problem := _key_problem(key, "annotation", any_case=True))
        or (problem := _controller_owned(key, "annotation", CONTROLLER_ANNOTATIONS))
    ]
    if problems:
        raise errors_at(problems)
    size = sum(len(key.encode()) + len(value.encode()) for key, value in annotations.items())
    if size > ANNOTATIONS_MAX_BYTES:
        raise ValueError(
            f"annotations hold {size} bytes: at most {ANNOTATIONS_MAX_BYTES} (the API server's 256 KiB for all of an "
            "object's annotations, less 8 KiB for mlcp's own); keep large data out of annotations"
        )
    return annotations


Labels = Annotated[dict[str, str], AfterValidator(_labels)]
"""Kubernetes labels, checked with the API server's own syntax rules; none of mlcp's own (`mlcp.dev/`), none the
controllers behind mlcp's objects read (`CONTROLLER_LABELS`)."""

Annotations = Annotated[dict[str, str], AfterValidator(_annotations)]
"""Kubernetes annotations: keys as the API server checks them, within its size limit; none of mlcp's own, none the
controllers behind mlcp's objects read as settings (`CONTROLLER_ANNOTATIONS`)."""


class Metadata(SpecModel):
    """Identity of a spec inside the config repo."""

    name: DnsLabel = Field(
        description="Name of the spec, unique per kind and tenant. If the spec renders Kubernetes objects (every "
        "kind does, but an Experiment only with `tuning` and a ModelPromotion only with `serving`), at most 62 "
        "characters less the kind's length (a Pipeline's 54, a TrainingJob's 51): its objects carry the label "
        "`mlcp.dev/spec: <kind>.<name>`, and a label value holds at most 63 characters. The controllers of some kinds "
        "demand more: a TrainingJob's, a Notebook's and a ModelPromotion's with `serving` start with a letter "
        "(Trainer, the notebook-controller's Service, KServe's webhook), a Notebook's has at most 52 characters (its "
        "StatefulSet's revision label), and an Experiment's with `tuning` starts with a letter (Katib's webhook) and "
        "leaves room for `-<algorithm>` within 63 characters (the name of Katib's suggestion Service)."
    )
    tenant: DnsLabel | None = Field(
        default=None,
        description=(
            "Tenant the spec belongs to. Optional: specs under `tenants/<t>/` belong to `<t>`; "
            "if set it must equal that folder."
        ),
    )
    labels: Labels = Field(
        default_factory=dict,
        description="Labels copied to rendered objects. None of mlcp's own (`mlcp.dev/`) nor Argo Workflows' "
        "(`workflows.argoproj.io/`: its controller-instanceid and creator labels pass from a CronWorkflow to its "
        "runs) nor Katib's (`katib.kubeflow.org/`: mlcp sets its metrics-collector-injection on the namespace).",
    )
    annotations: Annotations = Field(
        default_factory=dict,
        description="Annotations copied to the spec's Kubernetes objects. None of mlcp's own (`mlcp.dev/`) nor any "
        "key the controllers behind them read as a setting: `serving.kserve.io/`, Knative's (`serving.knative.dev/`, "
        "`autoscaling.knative.dev/`, `networking.knative.dev/`, `features.knative.dev/`), `sidecar.istio.io/`, "
        "`notebooks.kubeflow.org/` and `kubeflow-resource-stopped` (a Notebook's `stopped` sets it), Argo Workflows' "
        "(`workflows.argoproj.io/`, `cronworkflows.argoproj.io/`).",
    )
