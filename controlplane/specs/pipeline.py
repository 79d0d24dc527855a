"""Pipeline: a DAG of container steps, optionally on a cron schedule.

Rendered to an Argo WorkflowTemplate (and a CronWorkflow when scheduled). Step
graph checks (unique names, resolvable and acyclic `dependsOn`) live in
validation, where every problem is reported at once with its line.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controlplane.specs.base import DnsLabel, NonEmptyStr, Spec, SpecModel, register
from controlplane.specs.resources import ResourceList


class Resources(SpecModel):
    requests: ResourceList = Field(default_factory=dict, description="Container requests.")
    limits: ResourceList = Field(default_factory=dict, description="Container limits.")


class Step(SpecModel):
    """One container of the DAG."""

    name: DnsLabel = Field(description="Step name, unique within the pipeline.")
    image: NonEmptyStr = Field(description="Container image, e.g. `ghcr.io/acme/train:1.4`.")
    command: list[str] = Field(default_factory=list, description="Entrypoint override.")
    args: list[str] = Field(default_factory=list, description="Arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables.")
    resources: Resources = Field(default_factory=Resources, description="Requests and limits.")
    depends_on: list[DnsLabel] = Field(
        default_factory=list, description="Steps that must succeed before this one starts."
    )


class Parameter(SpecModel):
    name: NonEmptyStr = Field(description="Parameter name, referenced as {{workflow.parameters.NAME}}.")
    value: str | None = Field(default=None, description="Default value.")
    description: str | None = Field(default=None, description="What the parameter means.")
    enum: list[str] = Field(default_factory=list, description="Allowed values, if restricted.")


class Schedule(SpecModel):
    """When to run the pipeline on its own (an Argo CronWorkflow)."""

    cron: NonEmptyStr = Field(description="Cron expression (5 fields or @hourly/@daily/...).")
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. `Europe/Berlin`.")
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = Field(
        default="Forbid", description="What to do when a run is still going at the next tick."
    )
    suspend: bool = Field(default=False, description="Pause the schedule without deleting it.")
    successful_jobs_history_limit: int = Field(default=3, ge=0, description="Successful runs kept.")
    failed_jobs_history_limit: int = Field(default=3, ge=0, description="Failed runs kept.")
    starting_deadline_seconds: int | None = Field(
        default=None, ge=0, description="How late a missed run may still start."
    )


class PipelineSpec(SpecModel):
    description: str | None = Field(default=None, description="What the pipeline does.")
    service_account: DnsLabel | None = Field(
        default=None,
        description="ServiceAccount the steps run as; defaults to the tenant's. Never one of mlcp's own (`mlcp-*`).",
    )
    parameters: list[Parameter] = Field(default_factory=list, description="Workflow parameters.")
    steps: list[Step] = Field(min_length=1, description="The DAG's steps.")
    schedule: Schedule | None = Field(default=None, description="Optional cron schedule.")
    ttl_seconds_after_finished: int | None = Field(
        default=None, ge=0, description="Delete finished workflows after this many seconds."
    )


@register
class Pipeline(Spec):
    """An ML pipeline: container steps with dependencies and parameters."""

    kind: Literal["Pipeline"] = "Pipeline"
    spec: PipelineSpec
    folder = "tenants/<tenant>/pipelines/<name>.yaml"
