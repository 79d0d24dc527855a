"""A pipeline's steps: what each container runs, where it may run, and what it passes on.

Every field is a reference or a bounded choice, never a raw pod spec: a step
cannot name a ServiceAccount, a namespace, a hostPath, host networking or a
privileged context, because none of those can be written here (unknown fields
are refused). Secret values never appear: environment comes from Secrets and
ConfigMaps by name and key. Cross-step checks (references resolve, names are
free, the graph is acyclic) live in `controlplane.pipeline_rules`.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from controlplane.specs import envvars
from controlplane.specs.envvars import EnvName, EnvVars
from controlplane.specs.kube_syntax import INT32_MAX, INT64_MAX, INT64_MIN, DnsLabel
from controlplane.specs.model import NonEmptyStr, SpecModel, error_at
from controlplane.specs.resources import ResourceList


def _json_number(value: object) -> object:
    """A number item as written, or refused with one message: the union would turn 10**30 into the float 1e+30,
    and answer `.nan` with an error per member."""
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        shown = str(value) if value.bit_length() < 100 else f"of {value.bit_length()} bits"
        raise ValueError(f"the whole number {shown} does not fit in 64 bits: quote it to pass it as a string")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a number JSON can carry: quote it to pass it as a string")
    return value


Item = Annotated[str | int | float | bool | dict[str, str], BeforeValidator(_json_number)]
"""A `withItems` item, sent to Argo as JSON: whole numbers within int64, finite floats (the models' config)."""

ArgoName = str
"""Argo's parameter/artifact name: letters, digits, `-` and `_` (checked in pipeline_rules, with a line)."""


class Resources(SpecModel):
    requests: ResourceList = Field(default_factory=dict, description="Container requests.")
    limits: ResourceList = Field(default_factory=dict, description="Container limits.")


class KeyRef(SpecModel):
    """One key of a Secret or ConfigMap in the tenant's namespace."""

    name: DnsLabel = Field(description="Name of the Secret or ConfigMap (same namespace).")
    key: NonEmptyStr = Field(description="Key inside it.")
    optional: bool = Field(default=False, description="Start the step even if the key is missing.")


class EnvFrom(SpecModel):
    """An environment variable read from a Secret or a ConfigMap: the value never sits in git."""

    name: EnvName = Field(description="Environment variable name, e.g. `HF_TOKEN`.")
    secret: KeyRef | None = Field(default=None, description="Read the value from this Secret key.")
    config_map: KeyRef | None = Field(default=None, description="Read the value from this ConfigMap key.")

    @model_validator(mode="after")
    def _one_source(self) -> EnvFrom:
        if (self.secret is None) == (self.config_map is None):
            raise ValueError("set exactly one of `secret` or `configMap`")
        return self


def _descending(path: str) -> str:
    """A path within a volume, as the API server checks a mount's `subPath`: relative, without a `..` part."""
    if path.startswith("/"):
        raise ValueError(f"subPath {path!r} must be relative to the volume: remove the leading '/'")
    if ".." in path.split("/"):
        raise ValueError(f"subPath {path!r} must stay inside the volume: remove the '..' parts")
    return path


class VolumeMount(SpecModel):
    volume: DnsLabel = Field(description="Name of a volume declared under the pipeline's `volumes`.")
    mount_path: NonEmptyStr = Field(description="Absolute path inside the container.")
    sub_path: Annotated[str, AfterValidator(_descending)] | None = Field(
        default=None, description="Mount only this sub-directory of the volume: a relative path without `..`."
    )
    read_only: bool = Field(default=False, description="Mount read-only.")


class Toleration(SpecModel):
    key: str | None = Field(
        default=None,
        description="Taint key, e.g. `nvidia.com/gpu`. Required: a toleration without one (or an empty one) "
        "would tolerate every taint, the cluster's included.",
    )
    operator: Literal["Equal", "Exists"] = Field(default="Equal", description="`Equal` or `Exists`.")
    value: str | None = Field(default=None, description="Taint value (with `Equal`; none with `Exists`).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to tolerate; empty tolerates all effects."
    )


class NodeRequirement(SpecModel):
    key: NonEmptyStr = Field(description="Node label key, e.g. `nvidia.com/gpu.product`.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = Field(description="How to match.")
    values: list[str] = Field(
        default_factory=list,
        description="Label values for In/NotIn (at least one), one whole number for Gt/Lt, none for Exists and "
        "DoesNotExist.",
    )


class PreferredNodes(SpecModel):
    weight: int = Field(ge=1, le=100, description="1-100: how much the scheduler prefers these nodes.")
    match: list[NodeRequirement] = Field(min_length=1, description="All must hold for a node to be preferred.")


class NodeAffinity(SpecModel):
    """Node affinity, e.g. for a GPU pool: hard requirements and soft preferences."""

    required: list[NodeRequirement] = Field(
        default_factory=list, description="Every requirement must hold on the node (one node selector term)."
    )
    preferred: list[PreferredNodes] = Field(default_factory=list, description="Weighted preferences.")


class Backoff(SpecModel):
    duration: NonEmptyStr = Field(description="First delay, a duration such as `10s` or `2m`.")
    factor: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Multiply the delay by this after each retry."
    )
    max_duration: str | None = Field(default=None, description="Give up retrying after this long.")


class Retry(SpecModel):
    limit: int = Field(ge=0, le=INT32_MAX, description="Retries after the first attempt.")
    policy: Literal["Always", "OnFailure", "OnError", "OnTransientError"] = Field(
        default="OnFailure", description="Which failures are retried (Argo's retryPolicy)."
    )
    backoff: Backoff | None = Field(default=None, description="Wait between attempts.")


class OutputParameter(SpecModel):
    name: ArgoName = Field(description="Referenced as `{{tasks.STEP.outputs.parameters.NAME}}`.")
    path: NonEmptyStr = Field(description="File the step writes the value to.")


class OutputArtifact(SpecModel):
    name: ArgoName = Field(description="Referenced as `{{tasks.STEP.outputs.artifacts.NAME}}`.")
    path: NonEmptyStr = Field(description="File or directory the step writes; stored in the artifact repository.")


class Outputs(SpecModel):
    parameters: list[OutputParameter] = Field(default_factory=list, description="Small values read from files.")
    artifacts: list[OutputArtifact] = Field(
        default_factory=list, description="Files stored in the cluster's artifact repository."
    )


class InputParameter(SpecModel):
    name: ArgoName = Field(description="Used in the container as `{{inputs.parameters.NAME}}`.")
    value: str = Field(description="Value: text, `{{workflow.parameters.P}}`, `{{item}}` or an earlier step's output.")


class InputArtifact(SpecModel):
    name: ArgoName = Field(description="Artifact name inside this step.")
    path: NonEmptyStr = Field(description="Where the files appear in the container.")
    from_: NonEmptyStr = Field(
        alias="from", description="An earlier step's output: `{{tasks.STEP.outputs.artifacts.NAME}}`."
    )


class Container(SpecModel):
    """What runs and where: shared by steps and the exit handler."""

    image: NonEmptyStr = Field(description="Container image (OCI reference), e.g. `ghcr.io/acme/train:1.4`.")
    command: list[str] = Field(default_factory=list, description="Entrypoint override.")
    args: list[str] = Field(default_factory=list, description="Arguments.")
    env: EnvVars = Field(default_factory=dict, description="Plain environment variables (no secrets).")
    env_from: list[EnvFrom] = Field(
        default_factory=list,
        description="Environment variables from Secret or ConfigMap keys, by reference; names differ from `env`'s.",
    )
    resources: Resources = Field(default_factory=Resources, description="Requests and limits.")
    volume_mounts: list[VolumeMount] = Field(default_factory=list, description="Pipeline volumes to mount.")
    node_selector: dict[str, str] = Field(default_factory=dict, description="Run only on nodes with these labels.")
    tolerations: list[Toleration] = Field(default_factory=list, description="Taints this step tolerates.")
    affinity: NodeAffinity | None = Field(default=None, description="Node affinity (e.g. a GPU pool).")
    retry: Retry | None = Field(default=None, description="Retry a failed attempt.")
    timeout: str | None = Field(
        default=None, description="Fail the step after this long, a duration such as `30m` or `2h`."
    )

    @model_validator(mode="after")
    def _each_variable_once(self) -> Container:
        for loc, message in envvars.conflicts(self.env, [r.name for r in self.env_from], "envFrom", {}):
            raise error_at(loc, message)
        return self


class ExitHandler(Container):
    """A container run when the pipeline ends, whatever the outcome (`{{workflow.status}}` tells which)."""

    name: DnsLabel = Field(description="Name of the exit handler; must differ from every step's name.")


class DagNode(SpecModel):
    """What every step has, whatever it runs: its name and when it runs."""

    name: DnsLabel = Field(description="Step name, unique within the pipeline.")
    depends_on: list[DnsLabel] = Field(
        default_factory=list, description="Steps that must succeed before this one starts."
    )
    when: str | None = Field(
        default=None,
        description=(
            "Run only if this Argo expression holds, e.g. `{{workflow.parameters.deploy}} == true` (govaluate, once "
            "the tags are substituted: quote text holding a `-`, like `'{{workflow.parameters.region}}' == 'eu-west'`)."
        ),
    )


class Step(Container, DagNode):
    """One node of the DAG that runs a container."""

    with_items: list[Item] = Field(
        default_factory=list, description="Fan out: one run of the step per item, as `{{item}}`."
    )
    with_param: str | None = Field(
        default=None,
        description=(
            "Fan out over a JSON list an earlier step outputs, e.g. `{{tasks.split.outputs.parameters.shards}}`."
        ),
    )
    parameters: list[InputParameter] = Field(default_factory=list, description="Inputs passed to this step.")
    artifacts: list[InputArtifact] = Field(default_factory=list, description="Artifacts of earlier steps.")
    outputs: Outputs = Field(default_factory=Outputs, description="What later steps may use.")

    @model_validator(mode="after")
    def _one_fan_out(self) -> Step:
        if self.with_items and self.with_param is not None:
            raise ValueError("set at most one of `withItems` or `withParam`")
        return self
