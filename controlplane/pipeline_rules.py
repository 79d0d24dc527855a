"""A Pipeline checked by Argo's own rules, before Argo sees it.

Argo validates a Workflow only when it is submitted (and a CronWorkflow at each
tick), so a pipeline that breaks its rules merges, applies, and then fails every
run. These checks mirror argo-workflows v4.0.5's `workflow/validate` and the
full CRDs, no stricter: the step names, graph and counts (`pipeline_shape`),
parameter names, defaults within `enum`, `{{...}}` references resolvable in
the scope Argo resolves them in (`pipeline_refs`), expressions as Argo
evaluates them at run time (`pipeline_expressions`), name lengths of
the rendered objects, cron syntax (`cronspec`), every parameter of a scheduled
pipeline having a value, image references (`imagerefs`), and where a step's
pod may run as the API server checks it, off the cluster's own nodes
(`pipeline_placement`). Each problem points at the field to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from controlplane import (
    cronspec,
    goduration,
    imagerefs,
    pipeline_expressions,
    pipeline_placement,
    pipeline_refs,
    pipeline_shape,
    timezones,
    training_step_rules,
)
from controlplane.errors import Diagnostic
from controlplane.labels import RESERVED_ACCOUNT_PREFIX
from controlplane.loading.sources import LoadedSpec
from controlplane.specs import Pipeline
from controlplane.specs.pipeline_steps import Container, Step
from controlplane.specs.pipeline_training import TrainingStep

CRON_NAME_LIMIT = 52
"""Argo's limit for CronWorkflow names (its runs append a 10-digit timestamp and must stay within 63)."""

PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
"""Argo's rule for parameter and artifact names."""

ARGO_MOUNT = "/var/run/argo"
"""Where Argo's emissary executor mounts its own volume in every step's main container: a step mounting a volume
there makes a pod the API server refuses (a container's mount paths are unique)."""

WHOLE_SECONDS = re.compile(r"[0-9]+")
"""A backoff's duration without a unit: seconds (ASCII digits only; `str.isdigit` takes `²` and `١`)."""

Path = pipeline_refs.Path


def _names(loaded: LoadedSpec, path: Path, names: list[str], what: str) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not PARAM_NAME.fullmatch(name):
            yield pipeline_refs.diag(
                loaded,
                (*path, i, "name"),
                f"{what} name {name!r} is not allowed by Argo",
                "use letters, digits, '-' and '_' only (e.g. learning-rate)",
                "parameters",
            )
        elif name in seen:
            yield pipeline_refs.diag(
                loaded, (*path, i, "name"), f"duplicate {what} {name!r}", f"{what} names must be unique", "parameters"
            )
        seen.add(name)


def _parameters(loaded: LoadedSpec, pipeline: Pipeline) -> Iterator[Diagnostic]:
    params = pipeline.spec.parameters
    yield from _names(loaded, ("spec", "parameters"), [p.name for p in params], "parameter")
    schedule = pipeline.spec.schedule
    scheduled = schedule.parameters if schedule is not None else {}
    for i, param in enumerate(params):
        if param.enum and param.value is not None and param.value not in param.enum:
            yield pipeline_refs.diag(
                loaded,
                ("spec", "parameters", i, "value"),
                f"default {param.value!r} of parameter {param.name!r} is not one of its enum values",
                f"use one of: {', '.join(param.enum)}",
                "parameters",
            )
        if schedule is not None and param.value is None and param.name not in scheduled:
            yield pipeline_refs.diag(
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
            yield pipeline_refs.diag(
                loaded,
                ("spec", "schedule", "parameters", name),
                f"schedule sets {name!r}, which the pipeline does not declare",
                "declare it under spec.parameters or remove it",
                "parameters",
            )
        elif known.enum and value not in known.enum:
            yield pipeline_refs.diag(
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
        yield pipeline_refs.diag(
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
            yield pipeline_refs.diag(
                loaded, path, f"invalid cron expression {expr!r}: {why}", "e.g. `0 6 * * 1` or `@every 1h`", "schedule"
            )
    zone = timezones.problem(schedule.timezone)
    if zone is not None:
        yield pipeline_refs.diag(
            loaded,
            ("spec", "schedule", "timezone"),
            zone,
            f"use an IANA name such as {timezones.EXAMPLES}",
            "schedule",
        )


def _duration(loaded: LoadedSpec, path: Path, value: str | None, whole_seconds_ok: bool) -> Iterator[Diagnostic]:
    """A duration Argo reads with Go's time.ParseDuration; a backoff's may also be whole seconds (strconv.Atoi)."""
    if value is None or "{{" in value:
        return
    why: str | None
    if whole_seconds_ok and WHOLE_SECONDS.fullmatch(value):
        why = None if int(value) <= goduration.MAX_NS // 10**9 else "too many seconds: Go's durations end at ~292 years"
    else:
        why = goduration.problem(value)
    if why is None:
        return
    yield pipeline_refs.diag(
        loaded, path, f"{value!r} is not a duration ({why})", "write it like `90s`, `30m` or `1h30m`", "duration"
    )


class _Pipeline:
    """What every step's checks share, computed once per pipeline (per step, each was quadratic in hostile input)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.spec = pipeline
        self.params = pipeline_refs.params(pipeline)
        self.shared = pipeline_refs.task_outputs(pipeline)
        self.ancestry = pipeline_refs.Ancestry({s.name: list(s.depends_on) for s in pipeline.spec.steps})
        self.volumes = frozenset(v.name for v in pipeline.spec.volumes)


def _container(loaded: LoadedSpec, p: _Pipeline, step: Container, base: Path) -> Iterator[Diagnostic]:
    why = None if "{{" in step.image else imagerefs.problem(step.image)  # Argo substitutes it: checked once resolved
    if why is not None:
        yield pipeline_refs.diag(
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
    mounted: set[str] = set()
    for j, mount in enumerate(step.volume_mounts):
        if mount.volume not in p.volumes:
            yield pipeline_refs.diag(
                loaded,
                (*base, "volumeMounts", j, "volume"),
                f"no volume {mount.volume!r} in this pipeline",
                "declare it under spec.volumes",
                "volumes",
            )
        if mount.mount_path in mounted:
            yield pipeline_refs.diag(
                loaded,
                (*base, "volumeMounts", j, "mountPath"),
                f"{mount.mount_path!r} is mounted twice",
                "mount each path once",
                "volumes",
            )
        elif mount.mount_path == ARGO_MOUNT:
            yield pipeline_refs.diag(
                loaded,
                (*base, "volumeMounts", j, "mountPath"),
                f"{ARGO_MOUNT!r} is where Argo mounts its own executor volume in every step's container: the API "
                "server refuses a pod that mounts a path twice",
                "mount the volume at another path",
                "volumes",
            )
        mounted.add(mount.mount_path)
    yield from pipeline_placement.check(loaded, step, base)
    for j, ref in enumerate(step.env_from):
        source = ref.secret or ref.config_map
        if source is not None and source.name.startswith(RESERVED_ACCOUNT_PREFIX):
            yield pipeline_refs.diag(
                loaded,
                (*base, "envFrom", j),
                f"{source.name!r} is mlcp's own (names starting {RESERVED_ACCOUNT_PREFIX!r})",
                "read only your team's Secrets and ConfigMaps",
                "env",
            )


def _artifact_places(loaded: LoadedSpec, step: Step, base: Path) -> Iterator[Diagnostic]:
    """An input artifact is mounted at its `path`: Argo refuses a run whose artifact lands where a volume is."""
    mounts = {m.mount_path: m.volume for m in step.volume_mounts}
    for j, artifact in enumerate(step.artifacts):
        volume = mounts.get(artifact.path)
        if volume is not None:
            yield pipeline_refs.diag(
                loaded,
                (*base, "artifacts", j, "path"),
                f"input artifact {artifact.name!r} is placed at {artifact.path!r}, which is also where volume "
                f"{volume!r} is mounted: Argo refuses every run of the pipeline",
                "place the artifact at another path (one inside the volume, such as "
                f"{artifact.path.rstrip('/')}/{artifact.name}, is fine)",
                "volumes",
            )


def _step(loaded: LoadedSpec, p: _Pipeline, i: int, step: Step) -> Iterator[Diagnostic]:
    base: Path = ("spec", "steps", i)
    task_texts = list(pipeline_refs.task_texts(step, base))
    yield from _container(loaded, p, step, base)
    yield from _artifact_places(loaded, step, base)
    yield from _names(loaded, (*base, "parameters"), [p.name for p in step.parameters], "input parameter")
    yield from _names(loaded, (*base, "artifacts"), [a.name for a in step.artifacts], "input artifact")
    yield from _names(loaded, (*base, "outputs", "parameters"), [p.name for p in step.outputs.parameters], "output")
    yield from _names(loaded, (*base, "outputs", "artifacts"), [a.name for a in step.outputs.artifacts], "artifact")
    yield from pipeline_refs.references(
        loaded, pipeline_refs.container_scope(p.params, step), pipeline_refs.container_texts(step, base)
    )
    yield from pipeline_refs.references(
        loaded, pipeline_refs.task_scope(p.params, p.shared, step, p.ancestry), task_texts
    )
    yield from pipeline_refs.missing_dependency(loaded, step, i, p.ancestry)
    yield from pipeline_expressions.step_when(loaded, step, base)


def _training_step(loaded: LoadedSpec, p: _Pipeline, i: int, step: TrainingStep) -> Iterator[Diagnostic]:
    base: Path = ("spec", "steps", i)
    yield from training_step_rules.check(loaded, i, step)
    yield from _duration(loaded, (*base, "timeout"), step.timeout, whole_seconds_ok=False)
    if step.retry is not None and step.retry.backoff is not None:
        yield from _duration(loaded, (*base, "retry", "backoff", "duration"), step.retry.backoff.duration, True)
        yield from _duration(loaded, (*base, "retry", "backoff", "maxDuration"), step.retry.backoff.max_duration, True)
    task_texts = list(pipeline_refs.task_texts(step, base))
    yield from pipeline_refs.references(
        loaded, pipeline_refs.task_scope(p.params, p.shared, step, p.ancestry), task_texts
    )
    yield from pipeline_expressions.step_when(loaded, step, base)
    template = step.model_dump(by_alias=True, include={"timeout", "retry"}, exclude_none=True)  # its own template's
    yield from pipeline_refs.references(loaded, pipeline_refs.Scope(p.params), pipeline_refs.strings(template, base))


def check(loaded: LoadedSpec) -> Iterator[Diagnostic]:
    """Every Argo rule `loaded` (a Pipeline) breaks."""
    pipeline = loaded.spec
    if not isinstance(pipeline, Pipeline):  # pragma: no cover - called for pipelines only
        return
    yield from pipeline_shape.step_names(loaded, pipeline)
    yield from pipeline_shape.sizes(loaded, pipeline)
    yield from pipeline_shape.graph(loaded, pipeline)
    yield from _parameters(loaded, pipeline)
    yield from _schedule(loaded, pipeline)
    yield from pipeline_expressions.schedule_expressions(loaded, pipeline)
    yield from pipeline_refs.references(
        loaded, pipeline_refs.Scope(pipeline_refs.params(pipeline)), pipeline_refs.workflow_texts(pipeline)
    )
    shared = _Pipeline(pipeline)
    for i, step in enumerate(pipeline.spec.steps):
        if isinstance(step, Step):
            yield from _step(loaded, shared, i, step)
        else:
            yield from _training_step(loaded, shared, i, step)
    exit_handler = pipeline.spec.on_exit
    if exit_handler is not None:
        yield from _container(loaded, shared, exit_handler, ("spec", "onExit"))
        yield from pipeline_refs.references(
            loaded,
            pipeline_refs.container_scope(shared.params, exit_handler),
            pipeline_refs.container_texts(exit_handler, ("spec", "onExit")),
        )
    seen: set[str] = set()
    for i, volume in enumerate(pipeline.spec.volumes):
        if volume.name in seen:
            yield pipeline_refs.diag(
                loaded, ("spec", "volumes", i, "name"), f"duplicate volume {volume.name!r}", "rename it", "volumes"
            )
        seen.add(volume.name)
