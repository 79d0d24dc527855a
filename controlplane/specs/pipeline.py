"""Pipeline: a DAG of container and training steps, optionally on one or more cron schedules.

Rendered to an Argo WorkflowTemplate (and a CronWorkflow when scheduled). The
steps live in `pipeline_steps` (containers) and `pipeline_training` (a Trainer
TrainJob created and waited for); what no single field can check (step graph,
references, names Argo reserves, cron syntax as Argo parses it, image
references) lives in `controlplane.pipeline_rules`, where every problem is
reported at once with its line. Runs always use the tenant's workload
ServiceAccount (training steps its trainer account): no field chooses another
account or a namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field, model_validator

from controlplane.specs.base import Finding, Spec, TenantSpecs, register
from controlplane.specs.kube_syntax import INT32_MAX, INT64_MAX, DnsLabel, DnsSubdomain
from controlplane.specs.model import NonEmptyStr, SpecModel
from controlplane.specs.pipeline_steps import (
    Backoff,
    Container,
    EnvFrom,
    ExitHandler,
    InputArtifact,
    InputParameter,
    KeyRef,
    NodeAffinity,
    NodeRequirement,
    OutputArtifact,
    OutputParameter,
    Outputs,
    PreferredNodes,
    Resources,
    Retry,
    Step,
    Toleration,
    VolumeMount,
)
from controlplane.specs.pipeline_training import AnyStep, TrainingStep
from controlplane.specs.quota import container_findings
from controlplane.specs.resources import Quantity
from controlplane.specs.training_job import training_findings

__all__ = [
    "Backoff",
    "Container",
    "EnvFrom",
    "ExitHandler",
    "InputArtifact",
    "InputParameter",
    "KeyRef",
    "NodeAffinity",
    "NodeRequirement",
    "OutputArtifact",
    "OutputParameter",
    "Outputs",
    "Parameter",
    "Pipeline",
    "PipelineSpec",
    "PreferredNodes",
    "Resources",
    "Retry",
    "Schedule",
    "Step",
    "Toleration",
    "TrainingStep",
    "Volume",
    "VolumeMount",
]


class Parameter(SpecModel):
    name: NonEmptyStr = Field(description="Parameter name, referenced as {{workflow.parameters.NAME}}.")
    value: str | None = Field(default=None, description="Default value.")
    description: str | None = Field(default=None, description="What the parameter means.")
    enum: list[str] = Field(default_factory=list, description="Allowed values, if restricted.")


class Schedule(SpecModel):
    """When to run the pipeline on its own (an Argo CronWorkflow)."""

    cron: NonEmptyStr | list[NonEmptyStr] = Field(
        description="Cron expression, or a list of them (5 fields, @hourly/@daily/..., or `@every 1h`)."
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone name, e.g. `Europe/Berlin` (not `Local` or `localtime`: they vary by machine).",
    )
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = Field(
        default="Forbid",
        description=(
            "A tick while a run is still going: start another (Allow), skip the tick (Forbid), "
            "or stop the old run (Replace)."
        ),
    )
    suspend: bool = Field(default=False, description="Pause the schedule without deleting it.")
    successful_jobs_history_limit: int = Field(default=3, ge=0, le=INT32_MAX, description="Successful runs kept.")
    failed_jobs_history_limit: int = Field(default=3, ge=0, le=INT32_MAX, description="Failed runs kept.")
    starting_deadline_seconds: int | None = Field(
        default=None,
        ge=0,
        le=INT64_MAX,
        description=(
            "Missed runs (controller down, schedule suspended): the latest one still starts if at most "
            "this many seconds late; unset: missed runs are skipped."
        ),
    )
    when: str | None = Field(
        default=None,
        description="Argo expression; a tick runs only if it holds (e.g. on `cronworkflow.lastScheduledTime`).",
    )
    stop_when: str | None = Field(
        default=None,
        description="Argo expression that stops the schedule for good, e.g. `cronworkflow.failed >= 3`.",
    )
    parameters: dict[str, str] = Field(
        default_factory=dict, description="Parameter values for scheduled runs (override the defaults)."
    )

    @property
    def crons(self) -> list[str]:
        return [self.cron] if isinstance(self.cron, str) else list(self.cron)

    @model_validator(mode="after")
    def _some_cron(self) -> Schedule:
        if not self.crons:
            raise ValueError("`cron` needs at least one expression")
        return self


class EmptyDir(SpecModel):
    medium: Literal["Memory"] | None = Field(default=None, description="`Memory` for a tmpfs.")
    size_limit: Quantity | None = Field(default=None, description="Size limit, a quantity such as `1Gi`.")


class PerRunClaim(SpecModel):
    """A PersistentVolumeClaim created for each run and deleted with it."""

    size: Quantity = Field(description="Requested storage, a quantity such as `20Gi`.")
    storage_class: DnsSubdomain | None = Field(default=None, description="StorageClass; the cluster default if unset.")
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"] = Field(
        default="ReadWriteOnce", description="Access mode."
    )


class Volume(SpecModel):
    """A volume steps can mount: exactly one of `emptyDir`, `perRun` or `claim`."""

    name: DnsLabel = Field(description="Volume name, used by steps' `volumeMounts`.")
    empty_dir: EmptyDir | None = Field(default=None, description="Scratch space that lives as long as the pod.")
    per_run: PerRunClaim | None = Field(default=None, description="A claim made for each run, shared by its steps.")
    claim: DnsLabel | None = Field(default=None, description="An existing PersistentVolumeClaim in the namespace.")
    read_only: bool = Field(default=False, description="Mount an existing claim read-only.")

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        if sum(x is not None for x in (self.empty_dir, self.per_run, self.claim)) != 1:
            raise ValueError("set exactly one of `emptyDir`, `perRun` or `claim`")
        return self


class ArtifactRepository(SpecModel):
    """Which of the cluster's artifact repositories (a ConfigMap key in the namespace) stores artifacts."""

    config_map: DnsLabel = Field(default="artifact-repositories", description="ConfigMap naming the repositories.")
    key: str | None = Field(default=None, description="Key in it; the ConfigMap's default if unset.")


class PipelineSpec(SpecModel):
    description: str | None = Field(default=None, description="What the pipeline does.")
    parameters: list[Parameter] = Field(default_factory=list, description="Workflow parameters.")
    steps: list[AnyStep] = Field(
        min_length=1, description="The DAG's steps: containers, or training (a step with `trainingJob`)."
    )
    on_exit: ExitHandler | None = Field(default=None, description="A container run when the pipeline ends.")
    volumes: list[Volume] = Field(default_factory=list, description="Volumes steps may mount.")
    artifact_repository: ArtifactRepository | None = Field(
        default=None, description="Artifact repository for outputs; the namespace's default if unset."
    )
    schedule: Schedule | None = Field(default=None, description="Optional cron schedule.")
    ttl_seconds_after_finished: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="Delete finished runs after this many seconds (0: right away)."
    )
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, le=INT64_MAX, description="Fail a run that takes longer than this many seconds."
    )
    parallelism: int | None = Field(
        default=None, ge=1, le=INT64_MAX, description="At most this many pods of a run at once."
    )
    run_as_user: int | None = Field(
        default=None,
        ge=1,
        le=INT32_MAX,  # the API server refuses a pod whose user ID is not an int32 (IsValidUserID)
        description="UID the containers run as (never 0); the image's user if unset.",
    )


@register
class Pipeline(Spec):
    """An ML pipeline: a DAG of container and training steps, scheduled or run on demand (pipelines.md: examples)."""

    kind: Literal["Pipeline"] = "Pipeline"
    spec: PipelineSpec
    folder = "tenants/<tenant>/pipelines/<name>.yaml"

    def cross_checks(self, tenant: TenantSpecs) -> Iterable[Finding]:
        """A training step is checked as a TrainingJob is: its nodes within the tenant's Quota and LimitRange, its
        experiment one of the tenant's own."""
        for i, step in enumerate(self.spec.steps):
            if isinstance(step, TrainingStep):
                yield from training_findings(tenant, step.training_job, ("spec", "steps", i, "trainingJob"))
            else:
                yield from _container_findings(tenant, step, ("spec", "steps", i), f"step {step.name!r}")
        if self.spec.on_exit is not None:
            yield from _container_findings(tenant, self.spec.on_exit, ("spec", "onExit"), "the exit handler")


def _container_findings(
    tenant: TenantSpecs, step: Container, base: tuple[str | int, ...], what: str
) -> Iterable[Finding]:
    """A container step's pod as the API server completes and checks it against the tenant's LimitRange and Quota."""
    where = (*base, "resources")
    requests = {r: ((*where, "requests", r), q) for r, q in step.resources.requests.items()}
    limits = {r: ((*where, "limits", r), q) for r, q in step.resources.limits.items()}
    return container_findings(tenant, requests, limits, what, where)
