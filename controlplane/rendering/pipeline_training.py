"""A pipeline's training step → an Argo `resource` template that creates a Trainer `TrainJob` and waits for it.

The TrainJob is `trainjob_manifest`'s, the same object a TrainingJob spec
renders, with a name generated per run (`<step>-xxxxx`) and owned by the
Workflow (`setOwnerReference`), so deleting a run deletes its jobs. It does
not carry mlcp's managed-by label: it is an operation's output, like the run,
and the reconciler must neither adopt nor prune it.

The template runs as the tenant's `mlcp-trainer` ServiceAccount, not the
pipeline's `mlcp-workload`: only Argo's executor (`argoexec resource create`,
no tenant code) holds the right to create TrainJobs. The manifest contains no
`{{...}}` (pipeline_rules refuses it): Argo substitutes run parameters into the
manifest's text, so a parameter there could rewrite the TrainJob (a service
account override, say).

Argo waits with a label-selector over gjson paths, which cannot search a list:
the conditions are read by position. Trainer v2.0 sets no condition before the
terminal one (`Complete` or `Failed`) unless the job was suspended, which mlcp
never asks for; `Failed` is also looked for second, after a `Suspended`
condition. A job suspended and resumed by someone else is therefore ended by
the step's `timeout`, not seen as complete (docs/pipelines.md).
"""

from __future__ import annotations

from typing import Any

import yaml
from argo_workflows.model.io_argoproj_workflow_v1alpha1_resource_template import (
    IoArgoprojWorkflowV1alpha1ResourceTemplate,
)
from argo_workflows.model.io_argoproj_workflow_v1alpha1_template import IoArgoprojWorkflowV1alpha1Template

from controlplane.labels import PIPELINE_LABEL, SOURCE_ANNOTATION, STEP_LABEL
from controlplane.loading.sources import LoadedSpec
from controlplane.rendering.context import TENANT_TRAINER_SA, RenderContext
from controlplane.rendering.pipeline_steps import opt, retry_strategy
from controlplane.rendering.training_job import experiment_name, trainjob_manifest
from controlplane.specs.pipeline_training import TrainingStep

SUCCESS_CONDITION = "status.conditions.0.type == Complete,status.conditions.0.status == True"
"""Trainer's `Complete` condition, the first and only one of a job never suspended (Argo ANDs the requirements)."""
FAILURE_CONDITION = "status.conditions.0.type == Failed,status.conditions.1.type == Failed"
"""Trainer's `Failed` condition, first or after `Suspended` (Argo fails on *any* failure requirement)."""


def trainjob(loaded: LoadedSpec, ctx: RenderContext, step: TrainingStep) -> dict[str, Any]:
    """The TrainJob each run of `step` creates (a generated name; no mlcp ownership labels)."""
    meta = {
        "generateName": f"{step.name}-",
        "namespace": ctx.namespace(loaded.tenant),
        "labels": {PIPELINE_LABEL: loaded.spec.name, STEP_LABEL: step.name},
        "annotations": {SOURCE_ANNOTATION: loaded.source.path},
    }
    experiment = experiment_name(ctx, loaded.tenant, step.training_job.experiment)
    return trainjob_manifest(step.training_job, meta, experiment)


def training_template(loaded: LoadedSpec, ctx: RenderContext, step: TrainingStep) -> IoArgoprojWorkflowV1alpha1Template:
    """The leaf template of a training step: create the TrainJob as `mlcp-trainer`, wait for its outcome."""
    manifest = yaml.safe_dump(trainjob(loaded, ctx, step), sort_keys=False)
    resource = IoArgoprojWorkflowV1alpha1ResourceTemplate(
        action="create",
        manifest=manifest,
        set_owner_reference=True,
        success_condition=SUCCESS_CONDITION,
        failure_condition=FAILURE_CONDITION,
    )
    return IoArgoprojWorkflowV1alpha1Template(
        name=step.name,
        resource=resource,
        service_account_name=TENANT_TRAINER_SA,
        **opt(retry_strategy=retry_strategy(step.retry), timeout=step.timeout),
    )
