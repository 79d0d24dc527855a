"""A pipeline's steps → Argo container templates and DAG tasks.

Each step is a container template (what runs, where, its inputs and outputs)
plus a DAG task (when it runs, over which items, with which arguments): the
split Argo expects, so `{{inputs.parameters.X}}` works in the container and
`{{item}}`, `{{tasks.S.outputs...}}` in the task. Every container gets the same
hardened security context; no field of the spec can loosen it. Each pod is
labelled with its step's name (`mlcp.dev/pipeline-step`): Argo labels a pod
with its run, not its template, and a tuning's Katib trials find the pod that
reports the metrics by it (`rendering.katib`).
"""

from __future__ import annotations

from typing import Any

from argo_workflows.model.affinity import Affinity
from argo_workflows.model.capabilities import Capabilities
from argo_workflows.model.config_map_key_selector import ConfigMapKeySelector
from argo_workflows.model.container import Container
from argo_workflows.model.env_var import EnvVar
from argo_workflows.model.env_var_source import EnvVarSource
from argo_workflows.model.io_argoproj_workflow_v1alpha1_arguments import IoArgoprojWorkflowV1alpha1Arguments
from argo_workflows.model.io_argoproj_workflow_v1alpha1_artifact import IoArgoprojWorkflowV1alpha1Artifact
from argo_workflows.model.io_argoproj_workflow_v1alpha1_backoff import IoArgoprojWorkflowV1alpha1Backoff
from argo_workflows.model.io_argoproj_workflow_v1alpha1_dag_task import IoArgoprojWorkflowV1alpha1DAGTask
from argo_workflows.model.io_argoproj_workflow_v1alpha1_inputs import IoArgoprojWorkflowV1alpha1Inputs
from argo_workflows.model.io_argoproj_workflow_v1alpha1_metadata import IoArgoprojWorkflowV1alpha1Metadata
from argo_workflows.model.io_argoproj_workflow_v1alpha1_outputs import IoArgoprojWorkflowV1alpha1Outputs
from argo_workflows.model.io_argoproj_workflow_v1alpha1_parameter import IoArgoprojWorkflowV1alpha1Parameter
from argo_workflows.model.io_argoproj_workflow_v1alpha1_retry_strategy import IoArgoprojWorkflowV1alpha1RetryStrategy
from argo_workflows.model.io_argoproj_workflow_v1alpha1_template import IoArgoprojWorkflowV1alpha1Template
from argo_workflows.model.io_argoproj_workflow_v1alpha1_value_from import IoArgoprojWorkflowV1alpha1ValueFrom
from argo_workflows.model.node_affinity import NodeAffinity
from argo_workflows.model.node_selector import NodeSelector
from argo_workflows.model.node_selector_requirement import NodeSelectorRequirement
from argo_workflows.model.node_selector_term import NodeSelectorTerm
from argo_workflows.model.preferred_scheduling_term import PreferredSchedulingTerm
from argo_workflows.model.resource_requirements import ResourceRequirements
from argo_workflows.model.secret_key_selector import SecretKeySelector
from argo_workflows.model.security_context import SecurityContext
from argo_workflows.model.toleration import Toleration
from argo_workflows.model.volume_mount import VolumeMount

from controlplane.labels import STEP_LABEL
from controlplane.specs import pipeline_steps as spec


def opt(**fields: Any) -> dict[str, Any]:
    """Keyword arguments without the unset ones (the generated models reject None)."""
    return {k: v for k, v in fields.items() if v is not None and v not in ([], {})}


def container_security() -> SecurityContext:
    """What every step's container runs with: no root, no privilege escalation, no capabilities."""
    return SecurityContext(
        run_as_non_root=True, allow_privilege_escalation=False, capabilities=Capabilities(drop=["ALL"])
    )


def _env(step: spec.Container) -> list[EnvVar]:
    plain = [EnvVar(name=k, value=v) for k, v in sorted(step.env.items())]
    refs = []
    for ref in step.env_from:
        if ref.secret is not None:
            key = SecretKeySelector(name=ref.secret.name, key=ref.secret.key, optional=ref.secret.optional)
            refs.append(EnvVar(name=ref.name, value_from=EnvVarSource(secret_key_ref=key)))
        elif ref.config_map is not None:
            cm = ConfigMapKeySelector(
                name=ref.config_map.name, key=ref.config_map.key, optional=ref.config_map.optional
            )
            refs.append(EnvVar(name=ref.name, value_from=EnvVarSource(config_map_key_ref=cm)))
    return plain + refs


def _container(step: spec.Container) -> Container:
    has_resources = bool(step.resources.requests or step.resources.limits)
    resources = ResourceRequirements(
        **opt(requests=dict(step.resources.requests) or None, limits=dict(step.resources.limits) or None)
    )
    mounts = [
        VolumeMount(name=m.volume, mount_path=m.mount_path, **opt(sub_path=m.sub_path, read_only=m.read_only or None))
        for m in step.volume_mounts
    ]
    return Container(
        image=step.image,
        security_context=container_security(),
        **opt(
            command=list(step.command),
            args=list(step.args),
            env=_env(step),
            resources=resources if has_resources else None,
            volume_mounts=mounts,
        ),
    )


def _requirements(reqs: list[spec.NodeRequirement]) -> list[NodeSelectorRequirement]:
    return [NodeSelectorRequirement(key=r.key, operator=r.operator, **opt(values=list(r.values))) for r in reqs]


def _affinity(affinity: spec.NodeAffinity | None) -> Affinity | None:
    if affinity is None or not (affinity.required or affinity.preferred):
        return None
    required = (
        NodeSelector(node_selector_terms=[NodeSelectorTerm(match_expressions=_requirements(affinity.required))])
        if affinity.required
        else None
    )
    preferred = [
        PreferredSchedulingTerm(weight=p.weight, preference=NodeSelectorTerm(match_expressions=_requirements(p.match)))
        for p in affinity.preferred
    ]
    node = NodeAffinity(
        **opt(
            required_during_scheduling_ignored_during_execution=required,
            preferred_during_scheduling_ignored_during_execution=preferred,
        )
    )
    return Affinity(node_affinity=node)


def retry_strategy(retry: spec.Retry | None) -> IoArgoprojWorkflowV1alpha1RetryStrategy | None:
    if retry is None:
        return None
    backoff = None
    if retry.backoff is not None:
        b = retry.backoff
        backoff = IoArgoprojWorkflowV1alpha1Backoff(
            duration=b.duration,
            **opt(factor=None if b.factor is None else str(b.factor), max_duration=b.max_duration),
        )
    return IoArgoprojWorkflowV1alpha1RetryStrategy(
        limit=str(retry.limit), retry_policy=retry.policy, **opt(backoff=backoff)
    )


def _tolerations(step: spec.Container) -> list[Toleration]:
    return [Toleration(**opt(key=t.key, operator=t.operator, value=t.value, effect=t.effect)) for t in step.tolerations]


def container_template(name: str, step: spec.Container) -> IoArgoprojWorkflowV1alpha1Template:
    """The leaf template of a step or the exit handler."""
    inputs = outputs = None
    if isinstance(step, spec.Step):
        if step.parameters or step.artifacts:
            inputs = IoArgoprojWorkflowV1alpha1Inputs(
                **opt(
                    parameters=[IoArgoprojWorkflowV1alpha1Parameter(name=p.name) for p in step.parameters],
                    artifacts=[IoArgoprojWorkflowV1alpha1Artifact(name=a.name, path=a.path) for a in step.artifacts],
                )
            )
        if step.outputs.parameters or step.outputs.artifacts:
            outputs = IoArgoprojWorkflowV1alpha1Outputs(
                **opt(
                    parameters=[
                        IoArgoprojWorkflowV1alpha1Parameter(
                            name=p.name, value_from=IoArgoprojWorkflowV1alpha1ValueFrom(path=p.path)
                        )
                        for p in step.outputs.parameters
                    ],
                    artifacts=[
                        IoArgoprojWorkflowV1alpha1Artifact(name=a.name, path=a.path) for a in step.outputs.artifacts
                    ],
                )
            )
    return IoArgoprojWorkflowV1alpha1Template(
        name=name,
        container=_container(step),
        metadata=IoArgoprojWorkflowV1alpha1Metadata(labels={STEP_LABEL: name}),
        **opt(
            inputs=inputs,
            outputs=outputs,
            retry_strategy=retry_strategy(step.retry),
            timeout=step.timeout,
            node_selector=dict(step.node_selector),
            tolerations=_tolerations(step),
            affinity=_affinity(step.affinity),
        ),
    )


def dag_task(step: spec.DagNode) -> IoArgoprojWorkflowV1alpha1DAGTask:
    """When and how often the step's template runs, and with which arguments (fan-out and inputs: containers only)."""
    arguments = None
    fan_out: dict[str, Any] = {}
    if isinstance(step, spec.Step):
        fan_out = opt(with_items=list(step.with_items), with_param=step.with_param)
        if step.parameters or step.artifacts:
            arguments = IoArgoprojWorkflowV1alpha1Arguments(
                **opt(
                    parameters=[
                        IoArgoprojWorkflowV1alpha1Parameter(name=p.name, value=p.value) for p in step.parameters
                    ],
                    artifacts=[IoArgoprojWorkflowV1alpha1Artifact(name=a.name, _from=a.from_) for a in step.artifacts],
                )
            )
    return IoArgoprojWorkflowV1alpha1DAGTask(
        name=step.name,
        template=step.name,
        _check_type=False,  # withItems items may be scalars; the generated model types them as maps only
        **fan_out,
        **opt(dependencies=list(step.depends_on), when=step.when, arguments=arguments),
    )
