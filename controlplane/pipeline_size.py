"""A pipeline's runs within the size Argo's controller keeps a Workflow to: measured on the rendered template.

Each run of a WorkflowTemplate holds the template's whole spec twice (its status keeps
`storedWorkflowTemplateSpec` and, template by template, `storedTemplates`), beside its
nodes, and Argo's controller refuses to keep a Workflow over `MAX_WORKFLOW_SIZE` (1 MiB
by default; without a database to offload nodes to, as mlcp's installs have none): the
run fails at its first step with "workflow is longer than maximum allowed size", every
time. The API server and etcd accept the template itself up to 1.5 MiB (etcd's request
limit), so such a pipeline validated, applied, and never ran (confirmed against the real
controller by tests/integration/test_pipeline_size.py: a 525 KB spec fails every run).

So validation measures the spec mlcp renders, as Go's JSON encoder writes it, and refuses
one whose run would not fit with `RUN_RESERVE` left for the run's own status. Rendering
is skipped when a cheap bound on the rendered size (from the spec's own JSON) is already
within the budget, so a typical pipeline costs one `model_dump_json`.
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

MAX_WORKFLOW_SIZE = 1024 * 1024
"""Argo's controller's default `MAX_WORKFLOW_SIZE`: the most a Workflow may hold once its nodes are compressed."""
RUN_RESERVE = 32 * 1024
"""Room left for what a run adds beside the template's two copies: metadata, conditions, compressed nodes."""
SPEC_BUDGET = (MAX_WORKFLOW_SIZE - RUN_RESERVE) // 2
"""The largest rendered template spec (bytes of Go's JSON) whose runs fit: 507,904."""

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
    """Every pipeline whose rendered template is too large for its runs, at its `spec`."""
    ctx: RenderContext | None = None
    for loaded in repo.of_kind("Pipeline"):
        pipeline = cast(Pipeline, loaded.spec)
        if _bound(pipeline) <= SPEC_BUDGET:
            continue
        ctx = ctx or RenderContext(repo)
        size = rendered_size(loaded, ctx)
        if size is not None and size > SPEC_BUDGET:
            yield pipeline_refs.diag(
                loaded,
                ("spec",),
                f"pipeline {pipeline.metadata.name!r} renders a WorkflowTemplate spec of {size:,} bytes; Argo keeps "
                f"it twice in every run, within {MAX_WORKFLOW_SIZE:,} bytes (its MAX_WORKFLOW_SIZE), so every run "
                f"would fail: at most {SPEC_BUDGET:,}",
                "move long scripts and values into the image or an artifact, pass many values as one JSON "
                "parameter, or split the pipeline",
                "size",
            )


def rendered_size(loaded: LoadedSpec, ctx: RenderContext) -> int | None:
    """The size a run's copy of the template spec takes (with a schedule's arguments, which a scheduled run
    carries too), or None when it cannot be rendered (a missing tenant or experiment: reported elsewhere)."""
    try:
        manifests = [obj.manifest for obj in render_pipeline(loaded, ctx)]
    except (KeyError, StopIteration):
        return None
    size = 0
    for manifest in manifests:
        if manifest["kind"] == "WorkflowTemplate":
            size += go_json_size(manifest["spec"])
        else:
            size += go_json_size(manifest["spec"]["workflowSpec"].get("arguments", {}))
    return size


def _bound(pipeline: Pipeline) -> int:
    """An upper bound on `rendered_size`, from the spec's own JSON: rendering repeats no byte more than GROWTH
    times, and adds at most STEP_ROOM per step (the exit handler counted as one)."""
    steps = len(pipeline.spec.steps) + 1 + (pipeline.spec.on_exit is not None)
    return GROWTH * _go_text_size(pipeline.spec.model_dump_json()) + STEP_ROOM * steps
