"""Pipeline → Argo WorkflowTemplate (a DAG of container steps), plus a CronWorkflow when scheduled.

Built with the `argo-workflows` package's generated models, so a field Argo
does not know fails at render time rather than as a CRD rejection. Each step
becomes a container template and a DAG task; `dependsOn` becomes the task's
dependencies. The CronWorkflow references the template instead of copying it,
so a pipeline edit is one update, and scheduled runs pick it up.
"""

from __future__ import annotations

from typing import Any, cast

from argo_workflows.model.container import Container
from argo_workflows.model.env_var import EnvVar
from argo_workflows.model.io_argoproj_workflow_v1alpha1_arguments import IoArgoprojWorkflowV1alpha1Arguments
from argo_workflows.model.io_argoproj_workflow_v1alpha1_cron_workflow import IoArgoprojWorkflowV1alpha1CronWorkflow
from argo_workflows.model.io_argoproj_workflow_v1alpha1_cron_workflow_spec import (
    IoArgoprojWorkflowV1alpha1CronWorkflowSpec,
)
from argo_workflows.model.io_argoproj_workflow_v1alpha1_dag_task import IoArgoprojWorkflowV1alpha1DAGTask
from argo_workflows.model.io_argoproj_workflow_v1alpha1_dag_template import IoArgoprojWorkflowV1alpha1DAGTemplate
from argo_workflows.model.io_argoproj_workflow_v1alpha1_parameter import IoArgoprojWorkflowV1alpha1Parameter
from argo_workflows.model.io_argoproj_workflow_v1alpha1_template import IoArgoprojWorkflowV1alpha1Template
from argo_workflows.model.io_argoproj_workflow_v1alpha1_ttl_strategy import IoArgoprojWorkflowV1alpha1TTLStrategy
from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_spec import IoArgoprojWorkflowV1alpha1WorkflowSpec
from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_template import (
    IoArgoprojWorkflowV1alpha1WorkflowTemplate,
)
from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_template_ref import (
    IoArgoprojWorkflowV1alpha1WorkflowTemplateRef,
)
from argo_workflows.model.object_meta import ObjectMeta
from argo_workflows.model.resource_requirements import ResourceRequirements

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering import serialize
from controlplane.rendering.context import TENANT_WORKLOAD_SA, RenderContext, desired, metadata
from controlplane.rendering.registry import renders
from controlplane.specs import Pipeline
from controlplane.specs.pipeline import Step

ARGO_API = "argoproj.io/v1alpha1"
ENTRYPOINT = "main"


def _opt(**fields: Any) -> dict[str, Any]:
    """Keyword arguments without the unset ones (the generated models reject None)."""
    return {k: v for k, v in fields.items() if v is not None and v not in ([], {})}


def _container_template(step: Step) -> IoArgoprojWorkflowV1alpha1Template:
    resources = ResourceRequirements(
        **_opt(requests=dict(step.resources.requests) or None, limits=dict(step.resources.limits) or None)
    )
    container = Container(
        image=step.image,
        **_opt(
            command=list(step.command),
            args=list(step.args),
            env=[EnvVar(name=k, value=v) for k, v in sorted(step.env.items())],
            resources=resources if (step.resources.requests or step.resources.limits) else None,
        ),
    )
    return IoArgoprojWorkflowV1alpha1Template(name=step.name, container=container)


def _dag(pipeline: Pipeline) -> IoArgoprojWorkflowV1alpha1Template:
    tasks = [
        IoArgoprojWorkflowV1alpha1DAGTask(
            name=step.name, template=step.name, **_opt(dependencies=list(step.depends_on))
        )
        for step in pipeline.spec.steps
    ]
    return IoArgoprojWorkflowV1alpha1Template(name=ENTRYPOINT, dag=IoArgoprojWorkflowV1alpha1DAGTemplate(tasks=tasks))


def _workflow_spec(pipeline: Pipeline) -> IoArgoprojWorkflowV1alpha1WorkflowSpec:
    params = [
        IoArgoprojWorkflowV1alpha1Parameter(
            name=p.name, **_opt(value=p.value, description=p.description, enum=list(p.enum))
        )
        for p in pipeline.spec.parameters
    ]
    ttl = pipeline.spec.ttl_seconds_after_finished
    return IoArgoprojWorkflowV1alpha1WorkflowSpec(
        entrypoint=ENTRYPOINT,
        service_account_name=pipeline.spec.service_account or TENANT_WORKLOAD_SA,
        templates=[_dag(pipeline), *(_container_template(s) for s in pipeline.spec.steps)],
        **_opt(
            arguments=IoArgoprojWorkflowV1alpha1Arguments(parameters=params) if params else None,
            ttl_strategy=IoArgoprojWorkflowV1alpha1TTLStrategy(seconds_after_completion=ttl) if ttl else None,
        ),
    )


def _cron(loaded: LoadedSpec, ctx: RenderContext, pipeline: Pipeline, ns: str) -> dict[str, Any]:
    schedule = pipeline.spec.schedule
    if schedule is None:  # pragma: no cover - only called for scheduled pipelines
        raise ValueError("pipeline has no schedule")
    spec = IoArgoprojWorkflowV1alpha1CronWorkflowSpec(
        schedules=[schedule.cron],
        timezone=schedule.timezone,
        concurrency_policy=schedule.concurrency_policy,
        suspend=schedule.suspend,
        successful_jobs_history_limit=schedule.successful_jobs_history_limit,
        failed_jobs_history_limit=schedule.failed_jobs_history_limit,
        workflow_spec=IoArgoprojWorkflowV1alpha1WorkflowSpec(
            workflow_template_ref=IoArgoprojWorkflowV1alpha1WorkflowTemplateRef(name=pipeline.metadata.name)
        ),
        **_opt(starting_deadline_seconds=schedule.starting_deadline_seconds),
    )
    meta = ObjectMeta(**metadata(loaded, ctx, pipeline.metadata.name, ns))
    return serialize.argo(
        IoArgoprojWorkflowV1alpha1CronWorkflow(api_version=ARGO_API, kind="CronWorkflow", metadata=meta, spec=spec)
    )


@renders("Pipeline")
def render_pipeline(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    pipeline = cast(Pipeline, loaded.spec)
    ns = ctx.namespace(loaded.tenant)
    template = IoArgoprojWorkflowV1alpha1WorkflowTemplate(
        api_version=ARGO_API,
        kind="WorkflowTemplate",
        metadata=ObjectMeta(**metadata(loaded, ctx, pipeline.metadata.name, ns)),
        spec=_workflow_spec(pipeline),
    )
    manifests = [serialize.argo(template)]
    if pipeline.spec.schedule is not None:
        manifests.append(_cron(loaded, ctx, pipeline, ns))
    return [desired(loaded, manifest) for manifest in manifests]
