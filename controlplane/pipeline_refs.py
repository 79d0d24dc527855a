"""`{{...}}` references in a pipeline, resolved in the scope Argo resolves them in.

Argo (v4.0.5 `workflow/validate`) checks a tag only if it starts with one of
its variable prefixes, and checks it against the scope of the place it sits: a
step's container sees workflow globals, its own inputs and `pod.name`; the
step's DAG task sees workflow parameters, every step's outputs, the status of
its ancestors, and `item` when it fans out. An argument taken from another
step's output also needs that step among its ancestors. Part of
`controlplane.pipeline_rules`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from controlplane import exprpatterns
from controlplane.errors import Diagnostic
from controlplane.loading.sources import LoadedSpec
from controlplane.specs import Pipeline
from controlplane.specs.pipeline_steps import Container, DagNode, Step

Path = tuple[str | int, ...]

_TAG = re.compile(r"\{\{(.*?)\}\}")
_STATUS = re.compile(r"tasks\.([^.]+)\.status")
CHECKED_PREFIXES = ("item.", "steps.", "inputs.", "outputs.", "pod.", "workflow.", "tasks.")
"""Argo resolves only tags with these prefixes at validation time; others are left to run time."""


def diag(loaded: LoadedSpec, path: Path, message: str, hint: str, code: str) -> Diagnostic:
    where = loaded.at(*path)
    return Diagnostic(where.path, where.line, where.column, message, hint, code)


def _tags(text: str) -> Iterator[str]:
    for match in _TAG.finditer(text):
        tag = match.group(1).strip()
        if tag.startswith(CHECKED_PREFIXES):
            yield tag


class Scope:
    """What `{{...}}` may name in one place of the rendered workflow."""

    def __init__(
        self,
        params: frozenset[str],
        shared: frozenset[str] = frozenset(),
        ancestor: Callable[[str], bool] = lambda _: False,
    ) -> None:
        self.params = params
        self.shared = shared
        """Names every DAG task sees, computed once per pipeline."""
        self.ancestor = ancestor
        """Whether a step is one this place's step depends on (only their `status` is in scope)."""
        self.exact: set[str] = set()
        self.prefixes: tuple[str, ...] = ("outputs.",)

    def problem(self, tag: str) -> str | None:
        if tag.startswith("workflow."):
            name = tag.removeprefix("workflow.parameters.")
            if tag.startswith("workflow.parameters.") and name not in self.params:
                return f"the pipeline has no parameter {name!r}"
            return None
        if tag in self.exact or tag in self.shared or tag.startswith(self.prefixes):
            return None
        status = _STATUS.fullmatch(tag)
        if status is not None and self.ancestor(status.group(1)):
            return None
        if tag.startswith("tasks.") or tag.startswith("item."):
            return "not visible here"
        if tag.startswith("steps."):
            return "a pipeline is a DAG: earlier steps are `tasks.NAME`, not `steps.NAME`"
        return "nothing of that name is in scope"


def params(pipeline: Pipeline) -> frozenset[str]:
    return frozenset(p.name for p in pipeline.spec.parameters)


def container_scope(declared: frozenset[str], step: Container) -> Scope:
    scope = Scope(declared)
    scope.exact.add("pod.name")
    if isinstance(step, Step):
        scope.exact.update(f"inputs.parameters.{p.name}" for p in step.parameters)
        scope.exact.update(f"inputs.artifacts.{a.name}.path" for a in step.artifacts)
    return scope


def task_outputs(pipeline: Pipeline) -> frozenset[str]:
    """What every DAG task may name of any step (Argo adds all tasks' outputs to each task's scope)."""
    names: set[str] = set()
    for other in pipeline.spec.steps:
        base = f"tasks.{other.name}"
        names.update(f"{base}.{f}" for f in ("id", "startedAt", "finishedAt", "hostNodeName"))
        if not isinstance(other, Step):  # a training step is a resource template: no result, no exit code
            continue
        names.update((f"{base}.exitCode", f"{base}.outputs.result"))
        names.update(f"{base}.outputs.parameters.{p.name}" for p in other.outputs.parameters)
        names.update(f"{base}.outputs.artifacts.{a.name}" for a in other.outputs.artifacts)
        if other.with_items or other.with_param:
            names.add(f"{base}.outputs.parameters")
    return frozenset(names)


def task_scope(declared: frozenset[str], shared: frozenset[str], step: DagNode, ancestry: Ancestry) -> Scope:
    scope = Scope(declared, shared, lambda other: ancestry.has(step.name, other))  # only ancestors' status
    if not isinstance(step, Step):
        return scope
    if step.with_param is not None:
        scope.prefixes += ("item.",)
    for item in step.with_items:
        if isinstance(item, dict):
            scope.exact.update(f"item.{key}" for key in item)
    return scope


def references(loaded: LoadedSpec, scope: Scope, texts: Iterable[tuple[Path, str]]) -> Iterator[Diagnostic]:
    for path, text in texts:
        yield from expression_tags(loaded, path, text)
        for tag in _tags(text):
            why = scope.problem(tag)
            if why is not None:
                yield diag(
                    loaded,
                    path,
                    f"{{{{{tag}}}}} cannot be resolved: {why}",
                    _hint(tag),
                    "reference",
                )


def expression_tags(loaded: LoadedSpec, path: Path, text: str) -> Iterator[Diagnostic]:
    """A `{{= ... }}` tag whose `matches` pattern Go's regexp refuses: expr-lang compiles it when Argo evaluates the
    tag, and the step (or the tick) fails."""
    for match in _TAG.finditer(text):
        tag = match.group(1).strip()
        why = exprpatterns.problem(tag[1:]) if tag.startswith("=") else None
        if why is not None:
            yield diag(
                loaded,
                path,
                f"Argo cannot evaluate {{{{{tag}}}}}: {why}",
                exprpatterns.HINT,
                "expression",
            )
            return


def _hint(tag: str) -> str:
    if tag.startswith("workflow.parameters."):
        return "declare it under spec.parameters, or fix the name"
    if tag.startswith("inputs."):
        return "declare it under the step's `parameters` (or `artifacts`)"
    return (
        "a container sees workflow.parameters and its own inputs; pass earlier steps' outputs and items in "
        "through the step's `parameters`, and name only steps listed in dependsOn when reading their status"
    )


def strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Every string under `value` (a model dumped by alias) with its path in the document."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings(item, (*path, i))


_TEMPLATE_FIELDS = frozenset(Container.model_fields)
"""A step's fields rendered into its container template; the others (name, dependsOn, when, fan-out, arguments)
go to its DAG task, whose scope differs (`task_texts`)."""


def container_texts(step: Container, base: Path) -> Iterator[tuple[Path, str]]:
    """Every string of the step's container template: Argo substitutes `{{...}}` anywhere in it (it resolves the
    template's whole JSON), so a tag in a timeout, a mount or a node selector is resolved as one in `args` is."""
    yield from strings(step.model_dump(by_alias=True, include=set(_TEMPLATE_FIELDS), exclude_none=True), base)
    if isinstance(step, Step):  # the template's side of inputs and outputs: where files go
        for i, art in enumerate(step.artifacts):
            yield (*base, "artifacts", i, "path"), art.path
        for i, param in enumerate(step.outputs.parameters):
            yield (*base, "outputs", "parameters", i, "path"), param.path
        for i, output in enumerate(step.outputs.artifacts):
            yield (*base, "outputs", "artifacts", i, "path"), output.path


def workflow_texts(pipeline: Pipeline) -> Iterator[tuple[Path, str]]:
    """Strings of the workflow's own fields that Argo substitutes with the workflow's parameters when a run starts
    (its volumes and artifact repository): only `workflow.*` is in scope there."""
    fields = pipeline.spec.model_dump(by_alias=True, include={"volumes", "artifact_repository"}, exclude_none=True)
    yield from strings(fields, ("spec",))


def task_texts(step: DagNode, base: Path) -> Iterator[tuple[Path, str]]:
    if step.when is not None:
        yield (*base, "when"), step.when
    if not isinstance(step, Step):
        return
    if step.with_param is not None:
        yield (*base, "withParam"), step.with_param
    for i, param in enumerate(step.parameters):
        yield (*base, "parameters", i, "value"), param.value
    for i, art in enumerate(step.artifacts):
        yield (*base, "artifacts", i, "from"), art.from_


class Ancestry:
    """Which steps each step transitively depends on, as one bit mask per step computed once per pipeline.

    A set of ancestors per step is quadratic in a chain's length, and so was naming each ancestor's status in
    every step's scope: a 9,000-step chain (736 KB, within every load budget) took 80 s to validate, in the
    loop's pass too. Masks OR-ed along the graph are one walk (iterative: a hostile chain cannot exhaust the
    stack), and a question is one AND. A cycle (reported by the graph check) leaves its steps partial masks.
    """

    def __init__(self, parents: dict[str, list[str]]) -> None:
        self._parents = parents
        self._bit = {name: 1 << i for i, name in enumerate(parents)}
        self._masks: dict[str, int] = {}

    def _mask(self, name: str) -> int:
        stack, started = [name], set()
        while stack:
            node = stack[-1]
            if node in self._masks:
                stack.pop()
            elif node not in started:
                started.add(node)
                stack.extend(p for p in self._parents.get(node, ()) if p in self._bit and p not in started)
            else:
                mask = 0
                for parent in self._parents.get(node, ()):
                    if parent in self._bit:
                        mask |= self._bit[parent] | self._masks.get(parent, 0)
                self._masks[node] = mask
                stack.pop()
        return self._masks.get(name, 0)

    def has(self, step: str, other: str) -> bool:
        """Whether `step` depends on `other`, directly or through other steps."""
        bit = self._bit.get(other)
        return bit is not None and bool(self._mask(step) & bit)


def missing_dependency(loaded: LoadedSpec, step: Step, i: int, ancestry: Ancestry) -> Iterator[Diagnostic]:
    """Argo's rule: an argument taken from `{{tasks.X...}}` needs X among the step's dependencies."""
    values = [(("parameters", j, "value"), p.value) for j, p in enumerate(step.parameters)]
    values += [(("artifacts", j, "from"), a.from_) for j, a in enumerate(step.artifacts)]
    for path, value in values:
        if value.startswith("{{tasks."):
            other = value[len("{{tasks.") :].split(".", 1)[0]
            if not ancestry.has(step.name, other):
                yield diag(
                    loaded,
                    ("spec", "steps", i, *path),
                    f"step {step.name!r} takes {value} but does not depend on {other!r}",
                    f"add {other!r} to the step's dependsOn",
                    "reference",
                )
