"""The shared pipeline behind `mlcp plan`, `mlcp apply` and the reconcile loop.

load → validate → render → read live → plan. Commands and the loop call the
same functions so what a pull request shows is what the controller does.
The engine puts the steps together and plans; the steps it calls live apart:
connecting to the systems and reading them (`connecting`), which trusted base
judges (`basechoice`), and what a pass that planned some tenants plans of a
revision (`planscope`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from controlplane import registry_names
from controlplane.errors import InvalidConfig, MlcpError
from controlplane.inventory import Inventory
from controlplane.loading import memo
from controlplane.loading.repo import ConfigRepo, load_config, load_repo
from controlplane.planning import PlanOptions, plan
from controlplane.plans import VERIFIED_IDENTITIES, LiveObject, ObjectRef, Plan, SystemStatus
from controlplane.rendering import RenderContext, catalog, render
from controlplane.rendering.context import ACCESS_KINDS, RANK_ORDER
from controlplane.rendering.mlflow_objects import SYSTEM as MLFLOW
from controlplane.rendering.tenant import with_deployer_home, with_pod_security
from controlplane.specs.access_policy import PodSecurity
from controlplane.validation import own_problems, validate
from reconciler import (
    basechoice,
    confinement,
    connecting,
    gitsource,
    governance,
    governance_backend,
    planscope,
    servedhomes,
    serving,
)
from reconciler import selection as selections
from reconciler.authorizing import PlanAuthorizer
from reconciler.backends import movers
from reconciler.backends.base import Backend, LiveState
from reconciler.desired import Desired
from reconciler.selection import Selection
from reconciler.settling import settled
from reconciler.targets import DEFAULT_CONTROLLER_NAMESPACE as DEFAULT_CONTROLLER_NAMESPACE  # noqa: PLC0414 - re-export
from reconciler.targets import Targets as Targets  # noqa: PLC0414 - re-exported: callers know it as engine.Targets
from reconciler.trust import TrustedBase

T = TypeVar("T")


def load_valid(path: Path) -> ConfigRepo:
    """Load and validate a config repo; InvalidConfig lists every problem."""
    repo = load_repo(path)
    check_valid(repo)
    return repo


def check_valid(repo: ConfigRepo, base: registry_names.Established | None = None) -> None:
    """InvalidConfig listing every problem of `repo`, if any; `base`: the trusted base's tenants, which keep the
    registry names they own there (validation.validate)."""
    problems = validate(repo, base)
    if problems:
        raise InvalidConfig(problems)


def render_desired(repo: ConfigRepo) -> Desired:
    """Render a validated repo, with each spec's provenance commit."""
    info = gitsource.inspect(repo.root, (s.source.path for s in repo.specs))
    objects = render(RenderContext(repo, info.commits))
    return Desired(repo, objects, info.revision)


def load_desired(path: Path) -> Desired:
    """Load, validate and render a config repo; InvalidConfig lists every problem."""
    return render_desired(load_valid(path))


def plan_path(path: Path, targets: Targets, **options: bool) -> tuple[Plan, dict[str, Backend], dict[str, LiveState]]:
    """Load, connect, and plan.

    Reading live state does not depend on the specs, only on where the systems are (the operator's
    settings), so the read starts first and the server's work overlaps with loading, validating and
    rendering the repo.
    """
    head = load_config(path)
    if head.diagnostics:
        load_valid(path)  # raises InvalidConfig, with every problem in mlcp.yaml and the specs
    backends = connecting.connect(head, targets)
    reading = _Background(connecting.read_live, backends)
    with memo.shared():  # the revision and its trusted base parse each file they share once
        repo = load_repo(path)
        if own_problems(repo):  # on InvalidConfig the read is abandoned: its daemon thread never delays the exit
            check_valid(repo)
        read = reading.result()
        trusted = basechoice.load_trusted(repo.root, *read, backends, targets.trusted_base)
        check_valid(repo, trusted.established)  # whose registry names: the base's tenants keep theirs
        connecting.confine(backends, repo)
        desired = render_desired(repo)
        flags: dict[str, Any] = dict(options)  # prune, authorize, …: the booleans of make_plan
        planned, states = make_plan(desired, backends, already_read=read, targets=targets, **flags)
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


def make_plan(
    desired: Desired,
    backends: dict[str, Backend],
    *,
    prune: bool = False,
    allow_namespace_deletion: bool = False,
    authorize: bool = True,
    enforce_policy: bool = True,
    already_read: tuple[dict[str, LiveState], list[SystemStatus]] | None = None,
    targets: Targets | None = None,
    selection: Selection | None = None,
    dirty: Mapping[str, frozenset[ObjectRef] | None] | None = None,
) -> tuple[Plan, dict[str, LiveState]]:
    """Plan every reachable system; objects of an unreachable system are left out and the plan says so.

    `already_read` is live state from `read_live` (to overlap reading with rendering); read here if None.
    The trusted base (the operator's `targets.trusted_base`, else the applied revision) supplies every
    rule, the Pod Security level of tenant namespaces included: its governance objects are planned as a
    system of their own, added to `backends` so apply accepts them through the same mapping, and its policy
    judges each change when `authorize`.
    """
    states, statuses = already_read if already_read is not None else connecting.read_live(backends)
    if not states:
        reasons = "; ".join(s.error or "" for s in statuses)
        raise MlcpError(f"no target system could be read: {reasons}", "check the kubeconfig / tracking URI")
    operator = targets or Targets()
    trusted = basechoice.load_trusted(desired.repo.root, states, statuses, backends, operator.trusted_base)
    connecting.check_expectations(trusted.repo.config, operator, "the trusted base's")
    for backend in backends.values():
        backend.judge_by(trusted)
    keeper = governance_backend.GovernanceBackend.of(trusted)
    backends[keeper.system] = keeper
    states = {**states, keeper.system: keeper.read()}
    statuses = [*statuses, SystemStatus(keeper.system, keeper.target, reachable=True, notes=_identity_notes(trusted))]

    base_config = trusted.repo.config  # prune settings are rules too: the base's, not the revision's
    options = PlanOptions(
        prune=prune or base_config.prune.enabled,
        allow_namespace_deletion=allow_namespace_deletion or base_config.prune.allow_namespace_deletion,
        revision=desired.revision,
        repo=str(desired.repo.root),
        ranks=RANK_ORDER,
        access=ACCESS_KINDS,
        editable=catalog.editable,
        declared_rank=catalog.declared_rank,
    )
    partial = selection.tenants if selection is not None else None
    rules = governance.render(desired.repo, governance.policy_files(desired.repo.root), partial)
    candidates = desired.objects if partial is None else planscope.candidates(desired, partial, states, dirty or {})
    objects = [o for o in [*rules, *candidates] if o.ref.system in states]
    scope = planscope.scope(selection, objects, desired, [s.inventory for s in states.values()], dirty or {})
    if scope is not None and partial is not None:
        objects += planscope.declaring(desired, scope, objects)
    if scope is not None:
        objects = [o for o in objects if scope.includes(o.ref)]
    objects = planscope.covered(objects, states)
    objects = with_pod_security(objects, _pod_security(trusted))  # the base's level, never the revision's
    objects = with_deployer_home(objects, operator.controller_namespace)  # where mlcp impersonates deployers
    live: dict[ObjectRef, LiveObject] = {}
    for name, state in states.items():
        live.update(selections.live_in(scope, name, state.objects))
    inventories = [s.inventory for s in states.values()]
    # `plan` asks the inventory only about live objects: a pass that planned a few tenants merges their records
    # alone, not every system's 90,000
    inventory = Inventory.merged(inventories) if scope is None else Inventory.merged_within(inventories, live)
    reachable = {n: backends[n] for n in states}
    resolvers = [b for b in reachable.values() if isinstance(b, serving.VersionResolver)]
    homes = servedhomes.homes(base_config.artifacts.roots, states)  # the base's roots, mlcp's records of experiments
    served = serving.complete(objects, live, resolvers, homes)
    planned = serving.couple(
        review(plan(served.objects, live, inventory, options, statuses), reachable), served.problems
    )
    planned.meta["trustedBase"] = {"revision": trusted.revision, "origin": trusted.origin}
    planned.meta["identities"] = VERIFIED_IDENTITIES if _signed(trusted) else "claimed"
    if authorize:
        registry = movers.reader_of(reachable, MLFLOW)  # asked who may move an alias a promotion names
        authorizer = PlanAuthorizer(
            desired.repo, desired.revision, trusted.revision, trusted, enforce_policy, registry=registry
        )
        planned = settled(serving.couple(authorizer.authorize(planned)))
        planned.meta["baseRevision"] = trusted.revision
        connecting.entrust(backends, governance.allowed_tenants(planned.changes))  # who writes: base and allowed
        planned = confinement.confined(planned, backends)  # what apply would refuse, and why, shown in the plan
    planned.meta["requests"] = {name: b.requests for name, b in backends.items()}
    for name in states:
        planned.meta.update(backends[name].plan_meta)  # e.g. the registry's registryAuth
    return planned, states


def _pod_security(trusted: TrustedBase) -> PodSecurity:
    return trusted.policy.spec.pod_security if trusted.policy else PodSecurity()


def _signed(trusted: TrustedBase) -> bool:
    return bool(trusted.policy and trusted.policy.spec.require_signed_commits)


def _identity_notes(trusted: TrustedBase) -> tuple[str, ...]:
    if _signed(trusted):
        return ("identities are verified: only commits signed by a key in the trusted base's allowed signers count",)
    return (
        "identities are CLAIMS: commits are not required to be signed, so an author name is whatever the committer "
        "typed; the forge's branch protection is the control (set requireSignedCommits: true to verify)",
    )


def review(planned: Plan, backends: Mapping[str, Backend]) -> Plan:
    """Let each backend refine its own changes (e.g. attribute deletes, gate a promotion)."""
    changes = list(planned.changes)
    for name, backend in backends.items():
        positions = [i for i, c in enumerate(changes) if c.ref.system == name]
        reviewed = backend.review([changes[i] for i in positions])
        for i, change in zip(positions, reviewed, strict=True):
            changes[i] = change
    return replace(planned, changes=tuple(changes))
