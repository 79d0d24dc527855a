"""A Pipeline checked by Argo's own rules, before Argo sees it.

Argo validates a Workflow only when it is submitted (and a CronWorkflow at each
tick), so a pipeline that breaks its rules merges, applies, and then fails every
run. These checks mirror argo-workflows v4.0.5's `workflow/validate` and the
full CRDs, no stricter: step and parameter names, defaults within `enum`,
`{{...}}` references resolvable in the scope Argo resolves them in (a step's
container sees its inputs; a DAG task sees workflow parameters, earlier steps'
outputs and `item`), the template name mlcp keeps for the DAG, name lengths of
the rendered objects, cron syntax (`cronspec`), every parameter of a scheduled
pipeline having a value, and image references (`imagerefs`). Each problem
points at the field to fix.
"""

from __future__ import annotations

import graphlib
import re
import zoneinfo
from collections.abc import Iterable, Iterator

from controlplane import cronspec, imagerefs
from controlplane.errors import Diagnostic
from controlplane.labels import RESERVED_ACCOUNT_PREFIX
from controlplane.loading.sources import LoadedSpec
from controlplane.specs import Pipeline
from controlplane.specs.pipeline_steps import Container, Step

ENTRYPOINT = "main"
"""Name of the DAG template the renderer adds; a step of that name would collide with it."""

CRON_NAME_LIMIT = 52
"""Argo's limit for CronWorkflow names (its runs append a 10-digit timestamp and must stay within 63)."""

PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
"""Argo's rule for parameter and artifact names."""

GO_DURATION = re.compile(r"^([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$")
_TAG = re.compile(r"\{\{(.*?)\}\}")
_CHECKED_PREFIXES = ("item.", "steps.", "inputs.", "outputs.", "pod.", "workflow.", "tasks.")
"""Argo resolves only tags with these prefixes at validation time; others are left to run time."""

Path = tuple[str | int, ...]


def _diag(loaded: LoadedSpec, path: Path, message: str, hint: str, code: str) -> Diagnostic:
    where = loaded.at(*path)
    return Diagnostic(where.path, where.line, where.column, message, hint, code)


def _tags(text: str) -> Iterator[str]:
    for match in _TAG.finditer(text):
        tag = match.group(1).strip()
        if tag.startswith(_CHECKED_PREFIXES):
            yield tag


class _Scope:
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


def _params(pipeline: Pipeline) -> frozenset[str]:
    return frozenset(p.name for p in pipeline.spec.parameters)


def _container_scope(pipeline: Pipeline, step: Container) -> _Scope:
    scope = _Scope(_params(pipeline))
    scope.exact.add("pod.name")
    if isinstance(step, Step):
        scope.exact.update(f"inputs.parameters.{p.name}" for p in step.parameters)
        scope.exact.update(f"inputs.artifacts.{a.name}.path" for a in step.artifacts)
    return scope


def _task_outputs(pipeline: Pipeline) -> frozenset[str]:
    """What every DAG task may name of any step (Argo adds all tasks' outputs to each task's scope)."""
    names: set[str] = set()
    for other in pipeline.spec.steps:
        base = f"tasks.{other.name}"
        names.update(f"{base}.{f}" for f in ("id", "startedAt", "finishedAt", "hostNodeName", "exitCode"))
        names.add(f"{base}.outputs.result")
        names.update(f"{base}.outputs.parameters.{p.name}" for p in other.outputs.parameters)
        names.update(f"{base}.outputs.artifacts.{a.name}" for a in other.outputs.artifacts)
        if other.with_items or other.with_param:
            names.add(f"{base}.outputs.parameters")
    return frozenset(names)


def _task_scope(params: frozenset[str], shared: frozenset[str], step: Step, ancestors: set[str]) -> _Scope:
    scope = _Scope(params, shared)
    scope.exact.update(f"tasks.{name}.status" for name in ancestors)  # only ancestors' status is in scope
    if step.with_param is not None:
        scope.prefixes += ("item.",)
    for item in step.with_items:
        if isinstance(item, dict):
            scope.exact.update(f"item.{key}" for key in item)
    return scope


def _references(loaded: LoadedSpec, scope: _Scope, texts: Iterable[tuple[Path, str]]) -> Iterator[Diagnostic]:
    for path, text in texts:
        for tag in _tags(text):
            why = scope.problem(tag)
            if why is not None:
                yield _diag(
                    loaded,
                    path,
                    f"{{{{{tag}}}}} cannot be resolved: {why}",
                    "a container sees workflow.parameters and its own inputs; pass earlier steps' outputs "
                    "and items in through the step's `parameters`",
                    "reference",
                )


def _container_texts(step: Container, base: Path) -> Iterator[tuple[Path, str]]:
    yield (*base, "image"), step.image
    for field in ("command", "args"):
        for i, text in enumerate(getattr(step, field)):
            yield (*base, field, i), text
    for key, value in step.env.items():
        yield (*base, "env", key), value


def _task_texts(step: Step, base: Path) -> Iterator[tuple[Path, str]]:
    if step.when is not None:
        yield (*base, "when"), step.when
    if step.with_param is not None:
        yield (*base, "withParam"), step.with_param
    for i, param in enumerate(step.parameters):
        yield (*base, "parameters", i, "value"), param.value
    for i, art in enumerate(step.artifacts):
        yield (*base, "artifacts", i, "from"), art.from_


def _ancestors(parents: dict[str, list[str]], name: str) -> set[str]:
    """Every step `name` transitively depends on (iterative: a hostile chain of steps cannot exhaust the stack)."""
    found: set[str] = set()
    stack = list(parents.get(name, ()))
    while stack:
        parent = stack.pop()
        if parent not in found:
            found.add(parent)
            stack.extend(parents.get(parent, ()))
    return found


def _missing_dependency(loaded: LoadedSpec, step: Step, i: int, ancestors: set[str]) -> Iterator[Diagnostic]:
    """Argo's rule: an argument taken from `{{tasks.X...}}` needs X among the step's dependencies."""
    values = [(("parameters", j, "value"), p.value) for j, p in enumerate(step.parameters)]
    values += [(("artifacts", j, "from"), a.from_) for j, a in enumerate(step.artifacts)]
    for path, value in values:
        if value.startswith("{{tasks."):
            other = value[len("{{tasks.") :].split(".", 1)[0]
            if other not in ancestors:
                yield _diag(
                    loaded,
                    ("spec", "steps", i, *path),
                    f"step {step.name!r} takes {value} but does not depend on {other!r}",
                    f"add {other!r} to the step's dependsOn",
                    "reference",
                )


def _names(loaded: LoadedSpec, path: Path, names: list[str], what: str) -> Iterator[Diagnostic]:
    for i, name in enumerate(names):
        if not PARAM_NAME.match(name):
            yield _diag(
                loaded,
                (*path, i, "name"),
                f"{what} name {name!r} is not allowed by Argo",
                "use letters, digits, '-' and '_' only (e.g. learning-rate)",
                "parameters",
            )
        elif name in names[:i]:
            yield _diag(
                loaded, (*path, i, "name"), f"duplicate {what} {name!r}", f"{what} names must be unique", "parameters"
            )


def _step_names(loaded: LoadedSpec, pipeline: Pipeline) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    named: list[tuple[Path, str]] = [(("spec", "steps", i, "name"), s.name) for i, s in enumerate(pipeline.spec.steps)]
    if pipeline.spec.on_exit is not None:
        named.append((("spec", "onExit", "name"), pipeline.spec.on_exit.name))
    for path, name in named:
        if name == ENTRYPOINT:
            yield _diag(
                loaded,
                path,
                f"{name!r} is reserved: mlcp names the pipeline's DAG template {ENTRYPOINT!r}",
                "rename the step",
                "steps",
            )
        elif name in seen:
            yield _diag(
                loaded, path, f"duplicate step name {name!r}", "step names must be unique within a pipeline", "steps"
            )
        seen.add(name)
    for i, step in enumerate(pipeline.spec.steps):
        if step.depends_on and step.name[0].isdigit():
            yield _diag(
                loaded,
                ("spec", "steps", i, "name"),
                f"step {step.name!r} has dependencies, and Argo refuses such a step whose name begins with a digit",
                "start the name with a letter",
                "steps",
            )


def _graph(loaded: LoadedSpec, pipeline: Pipeline) -> Iterator[Diagnostic]:
    index = dict.fromkeys(step.name for step in pipeline.spec.steps)
    graph = graphlib.TopologicalSorter[str]()
    for i, step in enumerate(pipeline.spec.steps):
        for j, dep in enumerate(step.depends_on):
            path = ("spec", "steps", i, "dependsOn", j)
            if dep not in index:
                known = ", ".join(index)
                yield _diag(
                    loaded,
                    path,
                    f"step {step.name!r} depends on unknown step {dep!r}",
                    f"known steps: {known}",
                    "steps",
                )
            elif dep == step.name:
                yield _diag(loaded, path, f"step {step.name!r} depends on itself", "remove it from dependsOn", "steps")
        graph.add(step.name, *(d for d in step.depends_on if d in index and d != step.name))
    try:
        graph.prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        yield _diag(
            loaded,
            ("spec", "steps"),
            f"steps depend on each other in a cycle: {cycle}",
            "break the cycle in dependsOn",
            "steps",
        )


def _parameters(loaded: LoadedSpec, pipeline: Pipeline) -> Iterator[Diagnostic]:
    params = pipeline.spec.parameters
    yield from _names(loaded, ("spec", "parameters"), [p.name for p in params], "parameter")
    schedule = pipeline.spec.schedule
    scheduled = schedule.parameters if schedule is not None else {}
    for i, param in enumerate(params):
        if param.enum and param.value is not None and param.value not in param.enum:
            yield _diag(
                loaded,
                ("spec", "parameters", i, "value"),
                f"default {param.value!r} of parameter {param.name!r} is not one of its enum values",
                f"use one of: {', '.join(param.enum)}",
                "parameters",
            )
        if schedule is not None and param.value is None and param.name not in scheduled:
            yield _diag(
                loaded,
                ("spec", "parameters", i),
                f"parameter {param.name!r} has no value, so every scheduled run would fail",
                f"give it a default `value`, or set it under schedule.parameters.{param.name}",
                "parameters",
            )
    declared = {p.name: p for p in params}
    for name, value in scheduled.items():
        known = declared.get(name)
        if known is None:
            yield _diag(
                loaded,
                ("spec", "schedule", "parameters", name),
                f"schedule sets {name!r}, which the pipeline does not declare",
                "declare it under spec.parameters or remove it",
                "parameters",
            )
        elif known.enum and value not in known.enum:
            yield _diag(
                loaded,
                ("spec", "schedule", "parameters", name),
                f"scheduled value {value!r} of {name!r} is not one of its enum values",
                f"use one of: {', '.join(known.enum)}",
                "parameters",
            )


def _schedule(loaded: LoadedSpec, pipeline: Pipeline) -> Iterator[Diagnostic]:
    schedule = pipeline.spec.schedule
    if schedule is None:
        return
    if len(pipeline.name) > CRON_NAME_LIMIT:
        yield _diag(
            loaded,
            ("metadata", "name"),
            f"a scheduled pipeline's name may have at most {CRON_NAME_LIMIT} characters "
            f"(this has {len(pipeline.name)})",
            "shorten it: Argo refuses longer CronWorkflow names",
            "schedule",
        )
    for i, expr in enumerate(schedule.crons):
        why = cronspec.problem(expr)
        if why is not None:
            path: Path = (
                ("spec", "schedule", "cron") if isinstance(schedule.cron, str) else ("spec", "schedule", "cron", i)
            )
            yield _diag(
                loaded, path, f"invalid cron expression {expr!r}: {why}", "e.g. `0 6 * * 1` or `@every 1h`", "schedule"
            )
    try:
        zoneinfo.ZoneInfo(schedule.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder of zones
        yield _diag(
            loaded,
            ("spec", "schedule", "timezone"),
            f"unknown time zone {schedule.timezone!r}",
            "use an IANA name such as UTC or Europe/Berlin",
            "schedule",
        )


def _duration(loaded: LoadedSpec, path: Path, value: str | None, whole_seconds_ok: bool) -> Iterator[Diagnostic]:
    if value is None or "{{" in value or GO_DURATION.match(value) or (whole_seconds_ok and value.isdigit()):
        return
    yield _diag(loaded, path, f"{value!r} is not a duration", "write it like `90s`, `30m` or `1h30m`", "duration")


def _container(loaded: LoadedSpec, pipeline: Pipeline, step: Container, base: Path) -> Iterator[Diagnostic]:
    why = imagerefs.problem(step.image)
    if why is not None:
        yield _diag(
            loaded,
            (*base, "image"),
            f"image {step.image!r} is not a valid reference: {why}",
            "write it like registry.example.com/team/image:tag (lowercase repository)",
            "image",
        )
    yield from _duration(loaded, (*base, "timeout"), step.timeout, whole_seconds_ok=False)
    if step.retry is not None and step.retry.backoff is not None:
        yield from _duration(loaded, (*base, "retry", "backoff", "duration"), step.retry.backoff.duration, True)
        yield from _duration(loaded, (*base, "retry", "backoff", "maxDuration"), step.retry.backoff.max_duration, True)
    volumes = {v.name for v in pipeline.spec.volumes}
    mounted: set[str] = set()
    for j, mount in enumerate(step.volume_mounts):
        if mount.volume not in volumes:
            yield _diag(
                loaded,
                (*base, "volumeMounts", j, "volume"),
                f"no volume {mount.volume!r} in this pipeline",
                "declare it under spec.volumes",
                "volumes",
            )
        if mount.mount_path in mounted:
            yield _diag(
                loaded,
                (*base, "volumeMounts", j, "mountPath"),
                f"{mount.mount_path!r} is mounted twice",
                "mount each path once",
                "volumes",
            )
        mounted.add(mount.mount_path)
    for j, ref in enumerate(step.env_from):
        source = ref.secret or ref.config_map
        if source is not None and source.name.startswith(RESERVED_ACCOUNT_PREFIX):
            yield _diag(
                loaded,
                (*base, "envFrom", j),
                f"{source.name!r} is mlcp's own (names starting {RESERVED_ACCOUNT_PREFIX!r})",
                "read only your team's Secrets and ConfigMaps",
                "env",
            )


def _step(
    loaded: LoadedSpec, pipeline: Pipeline, i: int, step: Step, shared: frozenset[str], parents: dict[str, list[str]]
) -> Iterator[Diagnostic]:
    base: Path = ("spec", "steps", i)
    task_texts = list(_task_texts(step, base))
    refers = any("tasks." in text for _, text in task_texts)
    ancestors = _ancestors(parents, step.name) if refers else set()
    yield from _container(loaded, pipeline, step, base)
    yield from _names(loaded, (*base, "parameters"), [p.name for p in step.parameters], "input parameter")
    yield from _names(loaded, (*base, "artifacts"), [a.name for a in step.artifacts], "input artifact")
    yield from _names(loaded, (*base, "outputs", "parameters"), [p.name for p in step.outputs.parameters], "output")
    yield from _names(loaded, (*base, "outputs", "artifacts"), [a.name for a in step.outputs.artifacts], "artifact")
    yield from _references(loaded, _container_scope(pipeline, step), _container_texts(step, base))
    yield from _references(loaded, _task_scope(_params(pipeline), shared, step, ancestors), task_texts)
    yield from _missing_dependency(loaded, step, i, ancestors)


def check(loaded: LoadedSpec) -> Iterator[Diagnostic]:
    """Every Argo rule `loaded` (a Pipeline) breaks."""
    pipeline = loaded.spec
    if not isinstance(pipeline, Pipeline):  # pragma: no cover - called for pipelines only
        return
    yield from _step_names(loaded, pipeline)
    yield from _graph(loaded, pipeline)
    yield from _parameters(loaded, pipeline)
    yield from _schedule(loaded, pipeline)
    shared = _task_outputs(pipeline)
    parents = {s.name: list(s.depends_on) for s in pipeline.spec.steps}
    for i, step in enumerate(pipeline.spec.steps):
        yield from _step(loaded, pipeline, i, step, shared, parents)
    exit_handler = pipeline.spec.on_exit
    if exit_handler is not None:
        yield from _container(loaded, pipeline, exit_handler, ("spec", "onExit"))
        yield from _references(
            loaded, _container_scope(pipeline, exit_handler), _container_texts(exit_handler, ("spec", "onExit"))
        )
    names = [v.name for v in pipeline.spec.volumes]
    for i, name in enumerate(names):
        if name in names[:i]:
            yield _diag(loaded, ("spec", "volumes", i, "name"), f"duplicate volume {name!r}", "rename it", "volumes")
