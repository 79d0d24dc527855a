"""The shared pipeline behind `mlcp plan`, `mlcp apply` and the reconcile loop.

load → validate → render → read live → plan. Commands and the loop call the
same functions so what a pull request shows is what the controller does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from kubernetes.client import ApiClient

from controlplane.errors import InvalidConfig, MlcpError
from controlplane.loading.repo import ConfigRepo, load_config, load_repo
from controlplane.planning import Inventory, PlanOptions, plan
from controlplane.plans import DesiredObject, LiveObject, ObjectRef, Plan, SystemStatus
from controlplane.rendering import RenderContext, render
from controlplane.rendering.context import RANK_ORDER
from controlplane.specs import Tenant
from controlplane.validation import validate
from reconciler import gitsource
from reconciler.authorizing import PlanAuthorizer
from reconciler.backends.base import Backend, BackendError, LiveState, Reviewer
from reconciler.backends.kubernetes import KubernetesBackend
from reconciler.backends.mlflow import MlflowBackend
from reconciler.impersonation import Impersonation

T = TypeVar("T")


@dataclass(frozen=True)
class Targets:
    """Where to apply: flags override mlcp.yaml, which overrides the environment."""

    kubeconfig: str | None = None
    context: str | None = None
    tracking_uri: str | None = None


@dataclass(frozen=True)
class Desired:
    repo: ConfigRepo
    objects: list[DesiredObject]
    revision: str | None


def load_valid(path: Path) -> ConfigRepo:
    """Load and validate a config repo; InvalidConfig lists every problem."""
    repo = load_repo(path)
    problems = validate(repo)
    if problems:
        raise InvalidConfig(problems)
    return repo


def render_desired(repo: ConfigRepo) -> Desired:
    """Render a validated repo, with each spec's provenance commit."""
    info = gitsource.inspect(repo.root)
    objects = render(RenderContext(repo, info.commits))
    return Desired(repo, objects, info.revision)


def load_desired(path: Path) -> Desired:
    """Load, validate and render a config repo; InvalidConfig lists every problem."""
    return render_desired(load_valid(path))


def plan_path(path: Path, targets: Targets, **options: bool) -> tuple[Plan, dict[str, Backend], dict[str, LiveState]]:
    """Load, connect, and plan.

    Reading live state does not depend on the specs, only on where the systems are (`mlcp.yaml`), so the
    read starts first and the server's work overlaps with loading, validating and rendering the repo.
    """
    head = load_config(path)
    if head.diagnostics:
        load_valid(path)  # raises InvalidConfig, with every problem in mlcp.yaml and the specs
    backends = connect(head, targets)
    reading = _Background(read_live, backends)
    repo = load_valid(path)  # on InvalidConfig the read is abandoned: its daemon thread never delays the exit
    confine(backends, repo)
    desired = render_desired(repo)
    planned, states = make_plan(desired, backends, already_read=reading.result(), **options)
    return planned, backends, states


class _Background(Generic[T]):
    """A call running in a daemon thread: an abandoned result never keeps the process waiting."""

    def __init__(self, call: Callable[..., T], *args: Any) -> None:
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call, *args), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[..., T], *args: Any) -> None:
        try:
            self._result = call(*args)
        except BaseException as exc:
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return cast(T, self._result)


def connect(repo: ConfigRepo, targets: Targets, kube_client: ApiClient | None = None) -> dict[str, Backend]:
    """Backends for every system the repo targets (`kube_client`: an already-built client, e.g. in-cluster)."""
    namespace = repo.config.cluster.controller_namespace
    if kube_client is not None:
        kube = KubernetesBackend(kube_client, namespace)
    else:
        kubeconfig = targets.kubeconfig or repo.config.cluster.kubeconfig or os.environ.get("KUBECONFIG")
        if kubeconfig:
            kubeconfig = kubeconfig.split(os.pathsep)[0]
        context = targets.context or repo.config.cluster.context
        kube = KubernetesBackend.from_kubeconfig(kubeconfig, context, namespace)
    backends: dict[str, Backend] = {kube.system: kube}
    confine(backends, repo)
    tracking_uri = targets.tracking_uri or repo.config.registry.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if tracking_uri:
        registry = MlflowBackend.from_uri(tracking_uri)
        backends[registry.system] = registry
    return backends


def confine(backends: Mapping[str, Backend], repo: ConfigRepo) -> None:
    """Write each tenant's workloads as its confined deployer, for the tenants of this revision."""
    for backend in backends.values():
        if isinstance(backend, KubernetesBackend):
            backend.impersonation = impersonation(repo)


def impersonation(repo: ConfigRepo) -> Impersonation:
    """Who mlcp writes tenant workloads as, from the tenants of this revision."""
    tenants = {s.tenant: cast(Tenant, s.spec) for s in repo.of_kind("Tenant") if s.tenant}
    return Impersonation(
        namespaces={name: t.namespace for name, t in tenants.items()},
        members={name: frozenset(t.identities()) for name, t in tenants.items()},
    )


def read_live(backends: Mapping[str, Backend]) -> tuple[dict[str, LiveState], list[SystemStatus]]:
    """Live state per system; a system that cannot be read is reported, not raised."""
    states: dict[str, LiveState] = {}
    statuses: list[SystemStatus] = []
    for name, backend in backends.items():
        try:
            states[name] = backend.read()
        except BackendError as exc:
            statuses.append(SystemStatus(name, backend.target, reachable=False, error=str(exc)))
            continue
        notes = tuple(getattr(backend, "notes", ()))
        statuses.append(SystemStatus(name, backend.target, reachable=True, notes=notes))
    return states, statuses


def make_plan(
    desired: Desired,
    backends: Mapping[str, Backend],
    *,
    prune: bool = False,
    allow_namespace_deletion: bool = False,
    authorize: bool = True,
    enforce_policy: bool = True,
    already_read: tuple[dict[str, LiveState], list[SystemStatus]] | None = None,
) -> tuple[Plan, dict[str, LiveState]]:
    """Plan every reachable system; objects of an unreachable system are left out and the plan says so.

    `already_read` is live state from `read_live` (to overlap reading with rendering); read here if None.
    """
    states, statuses = already_read if already_read is not None else read_live(backends)
    if not states:
        reasons = "; ".join(s.error or "" for s in statuses)
        raise MlcpError(f"no target system could be read: {reasons}", "check the kubeconfig / tracking URI")
    live: dict[ObjectRef, LiveObject] = {}
    refs = frozenset[ObjectRef]()
    version = None
    for state in states.values():
        live.update(state.objects)
        refs = refs | state.inventory.refs
        version = state.inventory.version if version is None else version

    options = PlanOptions(
        prune=prune or desired.repo.config.prune.enabled,
        allow_namespace_deletion=allow_namespace_deletion or desired.repo.config.prune.allow_namespace_deletion,
        revision=desired.revision,
        repo=str(desired.repo.root),
        ranks=RANK_ORDER,
    )
    objects = [o for o in desired.objects if o.ref.system in states]
    planned = review(plan(objects, live, Inventory(refs, version), options, statuses), {n: backends[n] for n in states})
    if authorize:
        base = next((s.inventory.revision for s in states.values() if s.inventory.revision), None)
        planned = PlanAuthorizer(desired.repo, desired.revision, base, enforce_policy).authorize(planned)
        planned.meta["baseRevision"] = base
    planned.meta["requests"] = {name: getattr(b, "requests", None) for name, b in backends.items()}
    for name in states:
        planned.meta.update(getattr(backends[name], "plan_meta", {}))  # e.g. the registry's registryAuth
    return planned, states


def review(planned: Plan, backends: Mapping[str, Backend]) -> Plan:
    """Let each backend that implements `Reviewer` refine its own changes (e.g. gate a promotion)."""
    changes = list(planned.changes)
    for name, backend in backends.items():
        if not isinstance(backend, Reviewer):
            continue
        positions = [i for i, c in enumerate(changes) if c.ref.system == name]
        reviewed = backend.review([changes[i] for i in positions])
        for i, change in zip(positions, reviewed, strict=True):
            changes[i] = change
    return replace(planned, changes=tuple(changes))
