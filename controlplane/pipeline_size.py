"""A pipeline's runs within the sizes Argo's controller can handle: measured on the rendered template.

Each run of a WorkflowTemplate holds the template's whole spec twice (its status keeps
`storedWorkflowTemplateSpec` and, template by template, `storedTemplates`), beside its
nodes, and Argo's controller refuses to keep a Workflow over `MAX_WORKFLOW_SIZE` (1 MiB
by default; without a database to offload nodes to, as mlcp's installs have none): the
run fails at its first step with "workflow is longer than maximum allowed size", every
time. The API server and etcd accept the template itself up to 1.5 MiB (etcd's request
limit), so such a pipeline validated, applied, and never ran (confirmed against the real
controller by tests/integration/test_pipeline_size.py: a 525 KB spec fails every run).
The one exception is a race in Argo's controller: a run its throttler has not admitted yet
is marked Pending ("postponed due to max parallelism limit", even with no limit set), and
its later looks skip the validation that fills `storedTemplates`, so it keeps the spec once
and may run. That is chance, not a way to run such a pipeline, so the budget stays.


A step's template reaches its pod in the ARGO_TEMPLATE variable; above 128 KiB (Linux's
limit on one exec string) the controller writes it to a ConfigMap of the run's namespace
instead, and Argo's own ClusterRole does not let it create one: the step fails with
"configmaps is forbidden" (a 140 KB inline script did, under the real controller).

So validation measures what mlcp renders, as Go's JSON encoder writes it: the spec, with
`RUN_RESERVE` left for the run's own status, and each step's template, with `STEP_RESERVE`
left for what Argo adds. Rendering is skipped when a cheap bound (from the spec's own
JSON) is already within both budgets, so a typical pipeline costs a few `model_dump_json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

from controlplane import pipeline_refs
from controlplane.errors import Diagnostic
from controlplane.loading.repo import ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.rendering import RenderContext
from controlplane.rendering.pipeline import render_pipeline
from controlplane.specs import Pipeline
from controlplane.specs.pipeline_steps import DagNode, ExitHandler

Node = DagNode | ExitHandler

MAX_WORKFLOW_SIZE = 1024 * 1024
"""Argo's controller's default `MAX_WORKFLOW_SIZE`: the most a Workflow may hold once its nodes are compressed."""
RUN_RESERVE = 32 * 1024
"""Room left for what a run adds beside the template's two copies: metadata, conditions, compressed nodes."""
SPEC_BUDGET = (MAX_WORKFLOW_SIZE - RUN_RESERVE) // 2
"""The largest rendered template spec (bytes of Go's JSON) whose runs fit: 507,904."""

MAX_ENV_VAR_LEN = 131_072
"""Argo's `common.MaxEnvVarLen`: a step's template (ARGO_TEMPLATE) or container arguments above it are written to a
ConfigMap the controller creates in the run's namespace, a right Argo's own ClusterRole does not grant."""
STEP_RESERVE = 4 * 1024
"""Room for what Argo adds to a step's template before handing it over (its archive location, resolved defaults)."""
STEP_BUDGET = MAX_ENV_VAR_LEN - STEP_RESERVE
"""The largest rendered step template (bytes of Go's JSON, without its input parameters) that reaches its pod."""
HINT = (
    "move long scripts and values into the image or an artifact, pass many values as one JSON parameter, or split "
    "the pipeline"
)

STEP_ROOM = 8 * 1024
"""What rendering adds per step beyond the spec's own JSON (names repeated, security context, labels, a training
step's TrainJob manifest); with `GROWTH`, an upper bound on the rendered size."""
GROWTH = 4
"""How often rendering may repeat a spec's byte (a parameter's name is written twice, an env entry's key gains
`{"name":…,"value":…}`)."""


def go_json_size(value: Any) -> int:
    """Bytes of `value` as Go's `encoding/json` writes it: UTF-8, compact, `<`, `>`, `&`, U+2028 and U+2029
    escaped as `\\u00XX` (what Argo's controller measures)."""
    return _go_text_size(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def _go_text_size(text: str) -> int:
    """Bytes of compact JSON `text` (non-ASCII unescaped) once Go's encoder has escaped what it escapes."""
    size = len(text.encode("utf-8", "surrogatepass"))
    return size + 5 * sum(text.count(c) for c in "<>&") + 3 * (text.count("\u2028") + text.count("\u2029"))


def check(repo: ConfigRepo) -> Iterator[Diagnostic]:
    """Every pipeline whose rendered template is too large for its runs, at its `spec`, and every step whose
    template is too large to reach its pod, at the step."""
    ctx: RenderContext | None = None
    for loaded in repo.of_kind("Pipeline"):
        pipeline = cast(Pipeline, loaded.spec)
        if _bound(pipeline) <= SPEC_BUDGET and all(_step_bound(n) <= STEP_BUDGET for _, n in _nodes(pipeline)):
            continue
        ctx = ctx or RenderContext(repo)
        try:
            manifests = [obj.manifest for obj in render_pipeline(loaded, ctx)]
        except (KeyError, StopIteration):
            continue  # a missing tenant or experiment: reported by the checks that look for them
        yield from _spec_size(loaded, pipeline, manifests)
        yield from _step_sizes(loaded, pipeline, manifests)


def _spec_size(loaded: LoadedSpec, pipeline: Pipeline, manifests: list[dict[str, Any]]) -> Iterator[Diagnostic]:
    size = rendered_size(manifests)
    if size > SPEC_BUDGET:
        yield pipeline_refs.diag(
            loaded,
            ("spec",),
            f"pipeline {pipeline.metadata.name!r} renders a WorkflowTemplate spec of {size:,} bytes; Argo keeps "
            f"it twice in every run, within {MAX_WORKFLOW_SIZE:,} bytes (its MAX_WORKFLOW_SIZE), so every run "
            f"would fail: at most {SPEC_BUDGET:,}",
            HINT,
            "size",
        )


def _step_sizes(loaded: LoadedSpec, pipeline: Pipeline, manifests: list[dict[str, Any]]) -> Iterator[Diagnostic]:
    templates = {t["name"]: t for t in manifests[0]["spec"]["templates"]}
    for path, node in _nodes(pipeline):
        size = template_size(templates[node.name])
        if size > STEP_BUDGET:
            yield pipeline_refs.diag(
                loaded,
                path,
                f"step {node.name!r} renders a template of {size:,} bytes: Argo hands a step's template to its pod "
                f"in ARGO_TEMPLATE, and above {MAX_ENV_VAR_LEN:,} bytes writes it to a ConfigMap of the namespace, "
                "which Argo's own install does not let its controller create: every run would fail at this step "
                f"(at most {STEP_BUDGET:,})",
                HINT,
                "size",
            )


def rendered_size(manifests: list[dict[str, Any]]) -> int:
    """The size a run's copy of the template spec takes, with a schedule's arguments (a scheduled run carries
    them too)."""
    size = 0
    for manifest in manifests:
        if manifest["kind"] == "WorkflowTemplate":
            size += go_json_size(manifest["spec"])
        else:
            size += go_json_size(manifest["spec"]["workflowSpec"].get("arguments", {}))
    return size


def template_size(template: dict[str, Any]) -> int:
    """A leaf template's size as ARGO_TEMPLATE holds it: Argo clears `inputs.parameters` (their values are
    substituted into the rest), and keeps every other field."""
    inputs = {k: v for k, v in template.get("inputs", {}).items() if k != "parameters"}
    return go_json_size(
        {**{k: v for k, v in template.items() if k != "inputs"}, **({"inputs": inputs} if inputs else {})}
    )


def _nodes(pipeline: Pipeline) -> list[tuple[tuple[str | int, ...], Node]]:
    """Each step's place and the exit handler's: each renders one template that runs in a pod."""
    nodes: list[tuple[tuple[str | int, ...], Node]] = [
        (("spec", "steps", i, "name"), step) for i, step in enumerate(pipeline.spec.steps)
    ]
    if pipeline.spec.on_exit is not None:
        nodes.append((("spec", "onExit", "name"), pipeline.spec.on_exit))
    return nodes


def _bound(pipeline: Pipeline) -> int:
    """An upper bound on `rendered_size`, from the spec's own JSON: rendering repeats no byte more than GROWTH
    times, and adds at most STEP_ROOM per step (the exit handler counted as one)."""
    steps = len(pipeline.spec.steps) + 1 + (pipeline.spec.on_exit is not None)
    return GROWTH * _go_text_size(pipeline.spec.model_dump_json()) + STEP_ROOM * steps


def _step_bound(node: Node) -> int:
    """An upper bound on a step's `template_size`, the same way."""
    return GROWTH * _go_text_size(node.model_dump_json()) + STEP_ROOM
