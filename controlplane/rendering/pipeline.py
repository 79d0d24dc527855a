"""Pipeline → Argo WorkflowTemplate (a DAG of container steps), plus a CronWorkflow when scheduled.

Built with the `argo-workflows` package's generated models, so a field Argo
does not know fails at render time rather than as a CRD rejection. Each step
becomes a container template (`pipeline_steps`), or a resource template
creating a TrainJob (`pipeline_training`), and a DAG task; `dependsOn`
becomes the task's dependencies. Runs always use the tenant's workload
ServiceAccount and a non-root, seccomp-confined pod. The CronWorkflow references the template instead of copying it,
so a pipeline edit is one update, and scheduled runs pick it up.
"""

from __future__ import annotations

from typing import Any, cast

from argo_workflows.model.empty_dir_volume_source import EmptyDirVolumeSource
from argo_workflows.model.io_argoproj_workflow_v1alpha1_arguments import IoArgoprojWorkflowV1alpha1Arguments
from argo_workflows.model.io_argoproj_workflow_v1alpha1_artifact_repository_ref import (
    IoArgoprojWorkflowV1alpha1ArtifactRepositoryRef,
)
from argo_workflows.model.io_argoproj_workflow_v1alpha1_cron_workflow import IoArgoprojWorkflowV1alpha1CronWorkflow
from argo_workflows.model.io_argoproj_workflow_v1alpha1_cron_workflow_spec import (
    IoArgoprojWorkflowV1alpha1CronWorkflowSpec,
)
from argo_workflows.model.io_argoproj_workflow_v1alpha1_dag_template import IoArgoprojWorkflowV1alpha1DAGTemplate
from argo_workflows.model.io_argoproj_workflow_v1alpha1_parameter import IoArgoprojWorkflowV1alpha1Parameter
from argo_workflows.model.io_argoproj_workflow_v1alpha1_stop_strategy import IoArgoprojWorkflowV1alpha1StopStrategy
from argo_workflows.model.io_argoproj_workflow_v1alpha1_template import IoArgoprojWorkflowV1alpha1Template
from argo_workflows.model.io_argoproj_workflow_v1alpha1_ttl_strategy import IoArgoprojWorkflowV1alpha1TTLStrategy
from argo_workflows.model.io_argoproj_workflow_v1alpha1_volume_claim_gc import IoArgoprojWorkflowV1alpha1VolumeClaimGC
from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_spec import IoArgoprojWorkflowV1alpha1WorkflowSpec
from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_template import (
    IoArgoprojWorkflowV1alpha1WorkflowTemplate,
)
from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_template_ref import (
    IoArgoprojWorkflowV1alpha1WorkflowTemplateRef,
)
from argo_workflows.model.object_meta import ObjectMeta
from argo_workflows.model.persistent_volume_claim import PersistentVolumeClaim
from argo_workflows.model.persistent_volume_claim_spec import PersistentVolumeClaimSpec
from argo_workflows.model.persistent_volume_claim_volume_source import PersistentVolumeClaimVolumeSource
from argo_workflows.model.pod_security_context import PodSecurityContext
from argo_workflows.model.seccomp_profile import SeccompProfile
from argo_workflows.model.volume import Volume
from argo_workflows.model.volume_resource_requirements import VolumeResourceRequirements

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering import serialize
from controlplane.rendering.catalog import Resource
from controlplane.rendering.context import TENANT_WORKLOAD_SA, RenderContext, desired, metadata
from controlplane.rendering.pipeline_steps import container_template, dag_task, opt
from controlplane.rendering.pipeline_training import training_template
from controlplane.rendering.registry import renders
from controlplane.specs import Pipeline
from controlplane.specs.pipeline_training import TrainingStep

ARGO_API = "argoproj.io/v1alpha1"
WORKFLOW_TEMPLATE = Resource(50, "argoproj.io", "v1alpha1", "WorkflowTemplate", "workflowtemplates", namespaced=True)
CRON_WORKFLOW = Resource(60, "argoproj.io", "v1alpha1", "CronWorkflow", "cronworkflows", namespaced=True)
ENTRYPOINT = "main"
"""The DAG template's name: no step may take it (pipeline_rules reports one that does)."""


def _dag(pipeline: Pipeline) -> IoArgoprojWorkflowV1alpha1Template:
    tasks = [dag_task(step) for step in pipeline.spec.steps]
    return IoArgoprojWorkflowV1alpha1Template(name=ENTRYPOINT, dag=IoArgoprojWorkflowV1alpha1DAGTemplate(tasks=tasks))


def _volumes(pipeline: Pipeline) -> tuple[list[Volume], list[PersistentVolumeClaim]]:
    """Pod volumes (emptyDir, existing claims) and per-run claim templates."""
    volumes: list[Volume] = []
    claims: list[PersistentVolumeClaim] = []
    for v in pipeline.spec.volumes:
        if v.empty_dir is not None:
            source = EmptyDirVolumeSource(**opt(medium=v.empty_dir.medium, size_limit=v.empty_dir.size_limit))
            volumes.append(Volume(name=v.name, empty_dir=source))
        elif v.claim is not None:
            claim = PersistentVolumeClaimVolumeSource(claim_name=v.claim, **opt(read_only=v.read_only or None))
            volumes.append(Volume(name=v.name, persistent_volume_claim=claim))
        elif v.per_run is not None:
            spec = PersistentVolumeClaimSpec(
                access_modes=[v.per_run.access_mode],
                resources=VolumeResourceRequirements(requests={"storage": v.per_run.size}),
                **opt(storage_class_name=v.per_run.storage_class),
            )
            claims.append(PersistentVolumeClaim(metadata=ObjectMeta(name=v.name), spec=spec))
    return volumes, claims


def _pod_security(pipeline: Pipeline) -> PodSecurityContext:
    return PodSecurityContext(
        run_as_non_root=True,
        seccomp_profile=SeccompProfile(type="RuntimeDefault"),
        **opt(run_as_user=pipeline.spec.run_as_user),
    )


def _step_templates(loaded: LoadedSpec, ctx: RenderContext, pipeline: Pipeline) -> list[Any]:
    """One leaf template per step: a container, or a resource template creating a TrainJob."""
    return [
        training_template(loaded, ctx, s) if isinstance(s, TrainingStep) else container_template(s.name, s)
        for s in pipeline.spec.steps
    ]


def _workflow_spec(
    loaded: LoadedSpec, ctx: RenderContext, pipeline: Pipeline
) -> IoArgoprojWorkflowV1alpha1WorkflowSpec:
    spec = pipeline.spec
    params = [
        IoArgoprojWorkflowV1alpha1Parameter(
            name=p.name, **opt(value=p.value, description=p.description, enum=list(p.enum))
        )
        for p in spec.parameters
    ]
    templates = [_dag(pipeline), *_step_templates(loaded, ctx, pipeline)]
    if spec.on_exit is not None:
        templates.append(container_template(spec.on_exit.name, spec.on_exit))
    volumes, claims = _volumes(pipeline)
    ttl = spec.ttl_seconds_after_finished
    repo = spec.artifact_repository
    return IoArgoprojWorkflowV1alpha1WorkflowSpec(
        entrypoint=ENTRYPOINT,
        service_account_name=TENANT_WORKLOAD_SA,
        security_context=_pod_security(pipeline),
        templates=templates,
        **opt(
            arguments=IoArgoprojWorkflowV1alpha1Arguments(parameters=params) if params else None,
            ttl_strategy=IoArgoprojWorkflowV1alpha1TTLStrategy(seconds_after_completion=ttl)
            if ttl is not None
            else None,
            on_exit=spec.on_exit.name if spec.on_exit is not None else None,
            volumes=volumes,
            volume_claim_templates=claims,
            volume_claim_gc=IoArgoprojWorkflowV1alpha1VolumeClaimGC(strategy="OnWorkflowCompletion")
            if claims
            else None,
            active_deadline_seconds=spec.active_deadline_seconds,
            parallelism=spec.parallelism,
            artifact_repository_ref=(
                IoArgoprojWorkflowV1alpha1ArtifactRepositoryRef(config_map=repo.config_map, **opt(key=repo.key))
                if repo is not None
                else None
            ),
        ),
    )


def _cron(loaded: LoadedSpec, ctx: RenderContext, pipeline: Pipeline, ns: str) -> dict[str, Any]:
    schedule = pipeline.spec.schedule
    if schedule is None:  # pragma: no cover - only called for scheduled pipelines
        raise ValueError("pipeline has no schedule")
    params = [IoArgoprojWorkflowV1alpha1Parameter(name=k, value=v) for k, v in sorted(schedule.parameters.items())]
    workflow = IoArgoprojWorkflowV1alpha1WorkflowSpec(
        workflow_template_ref=IoArgoprojWorkflowV1alpha1WorkflowTemplateRef(name=pipeline.metadata.name),
        **opt(arguments=IoArgoprojWorkflowV1alpha1Arguments(parameters=params) if params else None),
    )
    spec = IoArgoprojWorkflowV1alpha1CronWorkflowSpec(
        schedules=schedule.crons,
        timezone=schedule.timezone,
        concurrency_policy=schedule.concurrency_policy,
        suspend=schedule.suspend,
        successful_jobs_history_limit=schedule.successful_jobs_history_limit,
        failed_jobs_history_limit=schedule.failed_jobs_history_limit,
        workflow_spec=workflow,
        **opt(
            starting_deadline_seconds=schedule.starting_deadline_seconds,
            when=schedule.when,
            stop_strategy=(
                IoArgoprojWorkflowV1alpha1StopStrategy(expression=schedule.stop_when) if schedule.stop_when else None
            ),
        ),
    )
    meta = ObjectMeta(**metadata(loaded, ctx, pipeline.metadata.name, ns))
    return serialize.argo(
        IoArgoprojWorkflowV1alpha1CronWorkflow(api_version=ARGO_API, kind="CronWorkflow", metadata=meta, spec=spec)
    )


@renders("Pipeline", WORKFLOW_TEMPLATE, CRON_WORKFLOW)
def render_pipeline(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    pipeline = cast(Pipeline, loaded.spec)
    ns = ctx.namespace(loaded.tenant)
    template = IoArgoprojWorkflowV1alpha1WorkflowTemplate(
        api_version=ARGO_API,
        kind="WorkflowTemplate",
        metadata=ObjectMeta(**metadata(loaded, ctx, pipeline.metadata.name, ns)),
        spec=_workflow_spec(loaded, ctx, pipeline),
    )
    manifests = [serialize.argo(template)]
    if pipeline.spec.schedule is not None:
        manifests.append(_cron(loaded, ctx, pipeline, ns))
    return [desired(loaded, manifest) for manifest in manifests]
