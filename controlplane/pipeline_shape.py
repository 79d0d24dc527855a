"""A pipeline's shape checked as Argo's CRD and validator count it: its steps' names, its graph, its sizes.

Part of `controlplane.pipeline_rules`. The API server refuses a WorkflowTemplate
over the full CRD's counts (200 templates, 500 inputs per template) at apply,
after the spec's other objects were written; Argo's validator refuses a step
named like mlcp's DAG template, a dependency that is not a step, a cycle, and a
step with dependencies whose name begins with a digit, when a run starts. The
graph is walked with graphlib (no recursion), and a cycle's message names its
first steps only: a hostile ring may hold thousands.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterator

from controlplane import pipeline_refs
from controlplane.errors import Diagnostic
from controlplane.loading.sources import LoadedSpec
from controlplane.specs import Pipeline
from controlplane.specs.pipeline_steps import Step

Path = pipeline_refs.Path

ENTRYPOINT = "main"
"""Name of the DAG template the renderer adds; a step of that name would collide with it."""

MAX_TEMPLATES = 200
"""Argo's full CRD: `spec.templates` holds at most 200 (the API server refuses more); mlcp renders one per step,
one for the DAG and one for the exit handler."""
MAX_INPUTS = 500
"""Argo's full CRD: a template's `inputs.parameters` holds at most 500."""

CYCLE_SHOWN = 10
"""Steps of a cycle named in its message; a longer one is counted (a hostile cycle may hold thousands)."""


def step_names(loaded: LoadedSpec, pipeline: Pipeline) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    named: list[tuple[Path, str]] = [(("spec", "steps", i, "name"), s.name) for i, s in enumerate(pipeline.spec.steps)]
    if pipeline.spec.on_exit is not None:
        named.append((("spec", "onExit", "name"), pipeline.spec.on_exit.name))
    for path, name in named:
        if name == ENTRYPOINT:
            yield pipeline_refs.diag(
                loaded,
                path,
                f"{name!r} is reserved: mlcp names the pipeline's DAG template {ENTRYPOINT!r}",
                "rename the step",
                "steps",
            )
        elif name in seen:
            yield pipeline_refs.diag(
                loaded, path, f"duplicate step name {name!r}", "step names must be unique within a pipeline", "steps"
            )
        seen.add(name)
    for i, step in enumerate(pipeline.spec.steps):
        if step.depends_on and step.name[0].isdigit():
            yield pipeline_refs.diag(
                loaded,
                ("spec", "steps", i, "name"),
                f"step {step.name!r} has dependencies, and Argo refuses such a step whose name begins with a digit",
                "start the name with a letter",
                "steps",
            )


def sizes(loaded: LoadedSpec, pipeline: Pipeline) -> Iterator[Diagnostic]:
    """Counts Argo's CRD caps: the API server refuses the WorkflowTemplate at apply, after the other objects."""
    exit_handler = pipeline.spec.on_exit is not None
    allowed = MAX_TEMPLATES - 1 - exit_handler
    if len(pipeline.spec.steps) > allowed:
        yield pipeline_refs.diag(
            loaded,
            ("spec", "steps"),
            f"{len(pipeline.spec.steps)} steps: Argo's CRD allows {MAX_TEMPLATES} templates in a workflow, one per "
            f"step, one for the DAG{' and one for the exit handler' if exit_handler else ''}, so at most {allowed}",
            "split the pipeline, or fan one step out over items (withItems, withParam)",
            "steps",
        )
    for i, step in enumerate(pipeline.spec.steps):
        if isinstance(step, Step) and len(step.parameters) > MAX_INPUTS:
            yield pipeline_refs.diag(
                loaded,
                ("spec", "steps", i, "parameters"),
                f"step {step.name!r} takes {len(step.parameters)} parameters; Argo's CRD allows {MAX_INPUTS}",
                "pass them in one parameter (JSON) or an artifact",
                "parameters",
            )


def graph(loaded: LoadedSpec, pipeline: Pipeline) -> Iterator[Diagnostic]:
    index = dict.fromkeys(step.name for step in pipeline.spec.steps)
    graph = graphlib.TopologicalSorter[str]()
    for i, step in enumerate(pipeline.spec.steps):
        for j, dep in enumerate(step.depends_on):
            path = ("spec", "steps", i, "dependsOn", j)
            if dep not in index:
                known = ", ".join(index)
                yield pipeline_refs.diag(
                    loaded,
                    path,
                    f"step {step.name!r} depends on unknown step {dep!r}",
                    f"known steps: {known}",
                    "steps",
                )
            elif dep == step.name:
                yield pipeline_refs.diag(
                    loaded, path, f"step {step.name!r} depends on itself", "remove it from dependsOn", "steps"
                )
        graph.add(step.name, *(d for d in step.depends_on if d in index and d != step.name))
    try:
        graph.prepare()
    except graphlib.CycleError as exc:
        steps = exc.args[1]
        cycle = " -> ".join(
            steps if len(steps) <= CYCLE_SHOWN else [*steps[:CYCLE_SHOWN], f"... ({len(steps) - 1} steps)"]
        )
        yield pipeline_refs.diag(
            loaded,
            ("spec", "steps"),
            f"steps depend on each other in a cycle: {cycle}",
            "break the cycle in dependsOn",
            "steps",
        )
