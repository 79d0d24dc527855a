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
from collections.abc import Iterable, Iterator
from typing import Any

from controlplane.errors import Diagnostic
from controlplane.loading.sources import LoadedSpec
from controlplane.specs import Pipeline
from controlplane.specs.pipeline_steps import Container, DagNode, Step

Path = tuple[str | int, ...]

_TAG = re.compile(r"\{\{(.*?)\}\}")
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

    def __init__(self, params: frozenset[str], shared: frozenset[str] = frozenset()) -> None:
        self.params = params
        self.shared = shared
        """Names every DAG task sees, computed once per pipeline."""
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
        if tag.startswith("tasks.") or tag.startswith("item."):
            return "not visible here"
        if tag.startswith("steps."):
            return "a pipeline is a DAG: earlier steps are `tasks.NAME`, not `steps.NAME`"
        return "nothing of that name is in scope"


def params(pipeline: Pipeline) -> frozenset[str]:
    return frozenset(p.name for p in pipeline.spec.parameters)


def container_scope(pipeline: Pipeline, step: Container) -> Scope:
    scope = Scope(params(pipeline))
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


def task_scope(declared: frozenset[str], shared: frozenset[str], step: DagNode, ancestry: set[str]) -> Scope:
    scope = Scope(declared, shared)
    scope.exact.update(f"tasks.{name}.status" for name in ancestry)  # only ancestors' status is in scope
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


def ancestors(parents: dict[str, list[str]], name: str) -> set[str]:
    """Every step `name` transitively depends on (iterative: a hostile chain of steps cannot exhaust the stack)."""
    found: set[str] = set()
    stack = list(parents.get(name, ()))
    while stack:
        parent = stack.pop()
        if parent not in found:
            found.add(parent)
            stack.extend(parents.get(parent, ()))
    return found


def missing_dependency(loaded: LoadedSpec, step: Step, i: int, ancestry: set[str]) -> Iterator[Diagnostic]:
    """Argo's rule: an argument taken from `{{tasks.X...}}` needs X among the step's dependencies."""
    values = [(("parameters", j, "value"), p.value) for j, p in enumerate(step.parameters)]
    values += [(("artifacts", j, "from"), a.from_) for j, a in enumerate(step.artifacts)]
    for path, value in values:
        if value.startswith("{{tasks."):
            other = value[len("{{tasks.") :].split(".", 1)[0]
            if other not in ancestry:
                yield diag(
                    loaded,
                    ("spec", "steps", i, *path),
                    f"step {step.name!r} takes {value} but does not depend on {other!r}",
                    f"add {other!r} to the step's dependsOn",
                    "reference",
                )
