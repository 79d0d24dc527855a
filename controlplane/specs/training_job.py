"""TrainingJob: distributed training on Kubeflow Trainer v2, logging to one of the tenant's MLflow experiments.

The runtime (a ClusterTrainingRuntime the platform provides, or a tenant's own
TrainingRuntime) says how nodes are wired (torch, MPI, ...); the spec says
what to run on how many nodes with which resources. Secrets enter only by
reference (`secretEnv`), never as values in git. The experiment it logs to is
an Experiment spec of the same tenant, so a job can only write runs where the
tenant's own MLflow permissions apply; validation refuses any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field, field_validator, model_validator

from controlplane.labels import RESERVED_ACCOUNT_PREFIX
from controlplane.specs import envvars
from controlplane.specs.base import Finding, NameRule, Spec, TenantSpecs, register
from controlplane.specs.envvars import EnvVars
from controlplane.specs.kube_syntax import DnsLabel
from controlplane.specs.model import NonEmptyStr, SpecModel, error_at
from controlplane.specs.notebook import ImageRef
from controlplane.specs.pipeline_steps import EnvFrom
from controlplane.specs.quota import limit_range_findings, quota_findings
from controlplane.specs.resources import Quantity

EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
"""Set from `experiment`; MLflow's client logs to it."""

DNS_LABEL_MAX = 63
NODE_JOB = "node"
"""The replicated job Trainer v2 always makes (its pods are the `numNodes` training nodes)."""
SHIPPED_RUNTIME_JOBS: dict[str, tuple[str, ...]] = {
    "deepspeed-distributed": ("launcher",),
    "mlx-distributed": ("launcher",),
    "mpi-distributed": ("launcher",),
}
"""The other replicated jobs (one pod each) of the ClusterTrainingRuntimes Trainer v2.0 ships; a platform's own
runtime may have others, which only it knows (docs/pipelines.md)."""


class RuntimeRef(SpecModel):
    name: DnsLabel = Field(description="Name of the runtime, e.g. `torch-distributed`.")
    kind: Literal["ClusterTrainingRuntime", "TrainingRuntime"] = Field(
        default="ClusterTrainingRuntime",
        description="`ClusterTrainingRuntime` (the platform's) or `TrainingRuntime` (in the tenant's namespace).",
    )


class NodeResources(SpecModel):
    """Requested and limited alike on every node."""

    cpu: Quantity = Field(default="1", description="CPU cores per node.")
    memory: Quantity = Field(default="4Gi", description="Memory per node.")
    gpu: int = Field(default=0, ge=0, le=16, description="GPUs per node (`nvidia.com/gpu`).")


class TrainingJobSpec(SpecModel):
    runtime: RuntimeRef = Field(description="The training runtime that wires the nodes together.")
    num_nodes: int = Field(default=1, ge=1, le=1024, description="Number of training nodes.")
    resources_per_node: NodeResources = Field(default_factory=NodeResources, description="Resources of each node.")
    image: ImageRef = Field(description="Training image (OCI reference).")
    command: list[NonEmptyStr] = Field(default_factory=list, description="Entrypoint; the runtime's if empty.")
    args: list[str] = Field(default_factory=list, description="Arguments to the entrypoint.")
    env: EnvVars = Field(
        default_factory=dict, description=f"Plain environment variables (no secrets); not `{EXPERIMENT_ENV}`."
    )
    secret_env: list[EnvFrom] = Field(
        default_factory=list,
        description=f"Environment variables read from Secrets or ConfigMaps by reference; names differ from `env`'s "
        f"and are not `{EXPERIMENT_ENV}`.",
    )
    experiment: DnsLabel = Field(description="Name of an Experiment spec of the same tenant the job logs to.")

    @field_validator("secret_env")
    @classmethod
    def _not_mlcps(cls, refs: list[EnvFrom]) -> list[EnvFrom]:
        for ref in refs:
            source = ref.secret or ref.config_map
            if source is not None and source.name.startswith(RESERVED_ACCOUNT_PREFIX):
                raise ValueError(f"{source.name!r} is mlcp's own (names starting {RESERVED_ACCOUNT_PREFIX!r})")
        return refs

    @model_validator(mode="after")
    def _each_variable_once(self) -> TrainingJobSpec:
        """mlcp sets the experiment's variable: neither list may, since a later entry of a name wins."""
        refs = [r.name for r in self.secret_env]
        for loc, message in envvars.conflicts(self.env, refs, "secretEnv", {EXPERIMENT_ENV: "experiment"}):
            raise error_at(loc, message)
        return self


@register
class TrainingJob(Spec):
    """A distributed training run (Kubeflow Trainer `TrainJob`) logging to one of the tenant's experiments."""

    kind: Literal["TrainingJob"] = "TrainingJob"
    spec: TrainingJobSpec
    folder = "tenants/<tenant>/training/<name>.yaml"
    name_rules = (NameRule("Trainer refuses a TrainJob name that is not a DNS-1035 label", letter_first=True),)

    def name_findings(self) -> Iterable[Finding]:
        yield from super().name_findings()
        why = name_problem(len(self.name), self.spec, "the TrainingJob's name")
        if why is not None:
            yield Finding(("metadata", "name"), f"TrainingJob {self.name!r}: {why}", "shorten the name", "name")

    def cross_checks(self, tenant: TenantSpecs) -> Iterable[Finding]:
        yield from training_findings(tenant, self.spec, ("spec",))


def _replicated_jobs(spec: TrainingJobSpec) -> list[tuple[str, int]]:
    """(replicated job, its pods) of the JobSet Trainer makes for `spec`, as far as mlcp can know them."""
    jobs = [(NODE_JOB, spec.num_nodes)]
    if spec.runtime.kind == "ClusterTrainingRuntime":
        jobs += [(job, 1) for job in SHIPPED_RUNTIME_JOBS.get(spec.runtime.name, ())]
    return jobs


def name_limit(spec: TrainingJobSpec) -> tuple[int, str]:
    """The longest TrainJob name that can run `spec`, and the pod name that sets it.

    Trainer makes a JobSet of the TrainJob's name, and JobSet's webhook refuses it unless every pod name its jobs
    will make fits a DNS label: `<name>-<replicatedJob>-<jobIndex>-<podIndex>-<5 random>` (jobset_webhook.go; the
    pod's hostname, `<name>-node-0-0`, is also the master's address Trainer's torch plugin gives every node).
    Trainer's own TrainJob webhook does not check it: the TrainJob is created and never starts a pod.
    """
    limits = []
    for job, pods in _replicated_jobs(spec):
        pod = f"-{job}-0-{pods - 1}-xxxxx"
        limits.append((DNS_LABEL_MAX - len(pod), f"<name>{pod}"))
    return min(limits)


def name_problem(name_length: int, spec: TrainingJobSpec, named: str) -> str | None:
    """Why a TrainJob whose name has `name_length` characters cannot run `spec`, or None; `named`: what it is."""
    limit, pod = name_limit(spec)
    if name_length <= limit:
        return None
    return (
        f"JobSet names this training's pods {pod} and refuses a pod name over {DNS_LABEL_MAX} characters, so "
        f"{named} may have at most {limit} characters (it has {name_length}): the training would never start"
    )


def training_findings(tenant: TenantSpecs, spec: TrainingJobSpec, base: tuple[str | int, ...]) -> Iterable[Finding]:
    """What `tenant`'s other specs refuse of the training `spec` at `base` (a TrainingJob's `spec`, a pipeline
    training step's `trainingJob`): its nodes' pods within the Quota (`numNodes` of them) and the LimitRange's
    `min`..`max` (else the TrainJob is created and its pods never all start), and an experiment of its own."""
    node = spec.resources_per_node
    path = (*base, "resourcesPerNode")
    asked = {"cpu": ((*path, "cpu"), node.cpu), "memory": ((*path, "memory"), node.memory)}
    if node.gpu:
        asked["nvidia.com/gpu"] = ((*path, "gpu"), str(node.gpu))
    yield from quota_findings(tenant, asked, "each training node", spec.num_nodes)
    yield from limit_range_findings(tenant, asked, "each training node")
    yield from experiment_findings(tenant, spec.experiment, (*base, "experiment"))


def experiment_findings(tenant: TenantSpecs, wanted: str, path: tuple[str | int, ...]) -> Iterable[Finding]:
    """A finding at `path` unless `wanted` is an Experiment of `tenant` (shared with pipelines' training steps)."""
    if ("Experiment", wanted) in tenant.refused or any(e.name == wanted for e in tenant.of_kind("Experiment")):
        return
    known = ", ".join(sorted(e.name for e in tenant.of_kind("Experiment"))) or "none"
    yield Finding(
        path,
        f"experiment {wanted!r} is not an Experiment of tenant {tenant.tenant!r}",
        f"log to one of the tenant's own experiments ({known}), or add experiments/{wanted}.yaml",
    )
