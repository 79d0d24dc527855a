"""Runs of a pipeline: what `mlcp run` submits, checked against the spec, and what a run's status says.

A run is an operation, not desired state: mlcp renders WorkflowTemplates and
CronWorkflows, and a person (or a schedule) starts Workflows from them. So
this module only builds the request for one run — the governed template by
reference, the caller's parameters checked against the pipeline's declared
ones — and reads a Workflow's status into plain data for the views. Talking
to the cluster is `reconciler/runs.py`'s job; printing it the CLI's.

The submitted Workflow carries none of mlcp's ownership labels: the planner
and the inventory never treat a run as something mlcp rendered (and never
prune it), whoever submitted it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from controlplane.errors import MlcpError
from controlplane.labels import MANAGED_BY, MANAGER, SPEC_LABEL
from controlplane.loading.repo import ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.specs import Pipeline, Tenant

ARGO_GROUP = "argoproj.io"
ARGO_VERSION = "v1alpha1"
FINISHED = frozenset({"Succeeded", "Failed", "Error"})
"""Workflow phases after which nothing changes any more."""
_CONTAINER_NODES = frozenset({"DAG", "Steps", "StepGroup", "TaskGroup"})
"""Node types that only group others: the progress display shows what they contain."""


class RunError(MlcpError):
    """The run could not be submitted or followed (nothing found, not allowed, not reachable)."""


class ParameterError(MlcpError):
    """The command line's parameters do not fit the pipeline: a usage error (exit 2), nothing was submitted."""


@dataclass(frozen=True)
class RunRequest:
    """One run to submit: which governed template, where, with which parameter values."""

    pipeline: str
    tenant: str
    namespace: str
    parameters: dict[str, str] = field(default_factory=dict)
    source: str = ""
    """The spec file the pipeline came from (for messages)."""


def parse_parameters(flags: Iterable[str]) -> dict[str, str]:
    """`--param k=v` flags as a mapping; a flag without `=`, or a name given twice, is a ParameterError."""
    values: dict[str, str] = {}
    for flag in flags:
        name, sep, value = flag.partition("=")
        if not sep or not name:
            raise ParameterError(f"--param {flag!r} is not NAME=VALUE", "e.g. --param learning-rate=0.01")
        if name in values:
            raise ParameterError(f"--param {name} is given twice", "give each parameter once")
        values[name] = value
    return values


def find_pipeline(repo: ConfigRepo, name: str, tenant: str | None) -> LoadedSpec:
    """The Pipeline spec called `name` (in `tenant`, when given); a RunError says what exists instead."""
    pipelines = [p for p in repo.of_kind("Pipeline") if tenant is None or p.tenant == tenant]
    found = [p for p in pipelines if p.spec.metadata.name == name]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        tenants = ", ".join(sorted(str(p.tenant) for p in found))
        raise RunError(f"pipeline {name!r} exists in several tenants: {tenants}", "choose one with --tenant")
    known = ", ".join(sorted(f"{p.tenant}/{p.spec.metadata.name}" for p in pipelines)) or "none"
    where = f" in tenant {tenant!r}" if tenant else ""
    broken = (
        f"; {len(repo.diagnostics)} file(s) in the repo did not load (run `mlcp validate`)" if repo.diagnostics else ""
    )
    raise RunError(f"no pipeline {name!r}{where} in {repo.root}{broken}", f"pipelines: {known}")


def request_for(repo: ConfigRepo, loaded: LoadedSpec, given: Mapping[str, str]) -> RunRequest:
    """Check `given` against the pipeline's parameters and say where the run goes (the tenant's namespace)."""
    pipeline = cast(Pipeline, loaded.spec)
    tenant = next((cast(Tenant, t.spec) for t in repo.of_kind("Tenant") if t.tenant == loaded.tenant), None)
    if tenant is None or loaded.tenant is None:
        raise RunError(
            f"{loaded.source.path}: tenant {loaded.tenant!r} has no valid tenant.yaml", "run `mlcp validate`"
        )
    values = checked_parameters(pipeline, given)
    return RunRequest(pipeline.metadata.name, loaded.tenant, tenant.namespace, values, loaded.source.path)


def checked_parameters(pipeline: Pipeline, given: Mapping[str, str]) -> dict[str, str]:
    """The caller's values, refused when a name is not declared, a value is outside the parameter's `enum`,
    or a parameter without a default gets no value (Argo would fail the run for it)."""
    declared = {p.name: p for p in pipeline.spec.parameters}
    names = ", ".join(declared) or "none"
    for name, value in given.items():
        param = declared.get(name)
        if param is None:
            raise ParameterError(
                f"pipeline {pipeline.metadata.name!r} has no parameter {name!r}", f"its parameters: {names}"
            )
        if param.enum and value not in param.enum:
            raise ParameterError(
                f"parameter {name!r} must be one of {', '.join(param.enum)}, not {value!r}", "pick an allowed value"
            )
    missing = [p.name for p in pipeline.spec.parameters if p.value is None and p.name not in given]
    if missing:
        raise ParameterError(
            f"pipeline {pipeline.metadata.name!r} needs a value for {', '.join(missing)} (no default)",
            " ".join(f"--param {m}=VALUE" for m in missing),
        )
    return dict(given)


def check_governed(request: RunRequest, template: Mapping[str, Any]) -> None:
    """The live template must be the one mlcp rendered from this pipeline (its labels say so).

    A check against mistakes (a template of the same name someone made by hand), not a boundary: whoever may
    create Workflows in the namespace could run anything there with kubectl; RBAC is the boundary.
    """
    labels = template.get("metadata", {}).get("labels", {}) or {}
    if labels.get(MANAGED_BY) != MANAGER or labels.get(SPEC_LABEL) != f"Pipeline.{request.pipeline}":
        raise RunError(
            f"WorkflowTemplate {request.namespace}/{request.pipeline} was not rendered by mlcp from the pipeline",
            "mlcp runs only the templates it governs; `mlcp plan` shows what it would change",
        )


def check_live_parameters(request: RunRequest, template: Mapping[str, Any]) -> None:
    """The applied template is what runs: a parameter the repo declares but the cluster's template does not
    means the pipeline's edit was not applied yet."""
    arguments = template.get("spec", {}).get("arguments", {}) or {}
    live = {str(p.get("name")) for p in arguments.get("parameters", []) or []}
    unapplied = sorted(set(request.parameters) - live)
    if unapplied:
        raise ParameterError(
            f"the applied WorkflowTemplate {request.namespace}/{request.pipeline} has no parameter "
            f"{', '.join(unapplied)} ({request.source} declares it)",
            "the edit is not applied yet: `mlcp apply` it (or wait for the reconcile loop), then run again",
        )


def workflow_manifest(request: RunRequest) -> dict[str, Any]:
    """The Workflow for one run: the governed template by reference, only the parameters the caller set.

    Deliberately without mlcp's labels (`app.kubernetes.io/managed-by` …): a run is never desired state.
    """
    spec: dict[str, Any] = {"workflowTemplateRef": {"name": request.pipeline}}
    if request.parameters:
        spec["arguments"] = {"parameters": [{"name": k, "value": v} for k, v in request.parameters.items()]}
    return {
        "apiVersion": f"{ARGO_GROUP}/{ARGO_VERSION}",
        "kind": "Workflow",
        "metadata": {"generateName": f"{request.pipeline}-", "namespace": request.namespace},
        "spec": spec,
    }


@dataclass(frozen=True)
class StepStatus:
    """One node of a run as a person reads it: a step's pod, a retried step, a skipped one, the exit handler."""

    name: str
    phase: str
    type: str
    started_at: str | None = None
    finished_at: str | None = None
    message: str = ""
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase,
            "type": self.type,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "message": self.message,
            "attempts": self.attempts,
        }


@dataclass(frozen=True)
class RunStatus:
    """A Workflow's status as plain data: the phase, and its steps in the order they started."""

    name: str
    namespace: str
    phase: str
    started_at: str | None = None
    finished_at: str | None = None
    message: str = ""
    steps: tuple[StepStatus, ...] = ()

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED

    @property
    def succeeded(self) -> bool:
        return self.phase == "Succeeded"


def status_of(workflow: Mapping[str, Any]) -> RunStatus:
    """Read a Workflow (as the API server returns it) into a RunStatus.

    Nodes that only group others (the DAG) are left out; the pods a Retry node made count as its attempts
    instead of showing one by one.
    """
    meta = workflow.get("metadata", {})
    status = workflow.get("status", {}) or {}
    nodes: dict[str, dict[str, Any]] = status.get("nodes", {}) or {}
    attempts_of = {nid: n.get("children", []) or [] for nid, n in nodes.items() if n.get("type") == "Retry"}
    retried = {child for children in attempts_of.values() for child in children}
    steps = [
        StepStatus(
            name=str(node.get("displayName") or node.get("name") or nid),
            phase=str(node.get("phase") or "Pending"),
            type=str(node.get("type")),
            started_at=node.get("startedAt"),
            finished_at=node.get("finishedAt"),
            message=str(node.get("message") or ""),
            attempts=len(attempts_of.get(nid, ())) or 1,
        )
        for nid, node in nodes.items()
        if node.get("type") not in _CONTAINER_NODES and nid not in retried
    ]
    steps.sort(key=lambda s: (s.started_at is None, s.started_at or "", s.name))
    return RunStatus(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        phase=str(status.get("phase") or "Pending"),
        started_at=status.get("startedAt"),
        finished_at=status.get("finishedAt"),
        message=str(status.get("message") or ""),
        steps=tuple(steps),
    )
