"""The shared pipeline behind `mlcp plan`, `mlcp apply` and the reconcile loop.

load → validate → render → read live → plan. Commands and the loop call the
same functions so what a pull request shows is what the controller does.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from controlplane import registry_names
from controlplane.errors import InvalidConfig, MlcpError, Refused
from controlplane.loading import memo
from controlplane.loading.repo import CONFIG_FILE, ConfigRepo, load_config, load_repo
from controlplane.planning import Inventory, PlanOptions, plan
from controlplane.plans import VERIFIED_IDENTITIES, DesiredObject, LiveObject, ObjectRef, Plan, SystemStatus
from controlplane.rendering import RenderContext, catalog, render
from controlplane.rendering.context import ACCESS_KINDS, RANK_ORDER
from controlplane.rendering.tenant import with_deployer_home, with_pod_security
from controlplane.specs.access_policy import PodSecurity
from controlplane.specs.repo_config import RepoConfig
from controlplane.validation import own_problems, validate
from reconciler import gitsource, governance, serving, trust
from reconciler import selection as selections
from reconciler.authorizing import PlanAuthorizer
from reconciler.backends import registry
from reconciler.backends.base import Backend, BackendError, BackendType, LiveState
from reconciler.redaction import redact
from reconciler.refindex import RefIndex
from reconciler.selection import Selection
from reconciler.settling import settled
from reconciler.targets import DEFAULT_CONTROLLER_NAMESPACE as DEFAULT_CONTROLLER_NAMESPACE  # noqa: PLC0414 - re-export
from reconciler.targets import Targets as Targets  # noqa: PLC0414 - re-exported: callers know it as engine.Targets
from reconciler.trust import TrustedBase

T = TypeVar("T")
OPERATOR_TARGETS = "operator-targets"
"""The rule refusing a repo whose mlcp.yaml expects other targets than the operator's settings."""


@dataclass(frozen=True)
class Desired:
    repo: ConfigRepo
    objects: list[DesiredObject]
    revision: str | None
    by_tenant: Mapping[str, Sequence[DesiredObject]] | None = None
    """`objects` by tenant ("" for none), when the loader keeps them so (reconciler.incremental): a loop pass
    that plans some tenants then never walks every object of a new revision."""
    refs: Callable[[], RefIndex] | None = None
    """`objects` by ref, when the loader carries the index from revision to revision (reconciler.incremental);
    asked only when a pass plans an object outside its selected tenants."""


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
    backends = connect(head, targets)
    reading = _Background(read_live, backends)
    with memo.shared():  # the revision and its trusted base parse each file they share once
        repo = load_repo(path)
        if own_problems(repo):  # on InvalidConfig the read is abandoned: its daemon thread never delays the exit
            check_valid(repo)
        read = reading.result()
        trusted = load_trusted(repo.root, *read, backends, targets.trusted_base)
        check_valid(repo, trusted.established)  # whose registry names: the base's tenants keep theirs
        confine(backends, repo)
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


def check_expectations(
    config: RepoConfig, targets: Targets, whose: str, backends: Sequence[BackendType] | None = None
) -> None:
    """Stop when mlcp.yaml expects another target (cluster, registry, namespace) than the operator's settings.

    The repo is data: it never decides where mlcp connects, so a disagreement is an error, not an override.
    Each backend states what mlcp.yaml may expect of it (`BackendType.expectations`).
    """
    for backend in registry.available() if backends is None else backends:
        for name, expected, actual, setting in backend.expectations(config, targets):
            if expected is not None and expected != actual:
                raise Refused(
                    f"{whose} mlcp.yaml expects {name} {redact(repr(expected))}, but the operator's setting "
                    f"({setting}) is {redact(repr(actual))}; mlcp never follows a config repo to another endpoint",
                    f"fix or remove `{name}` in mlcp.yaml, or run mlcp with the intended {setting}",
                    OPERATOR_TARGETS,
                    CONFIG_FILE,
                )


def connect(repo: ConfigRepo, targets: Targets) -> dict[str, Backend]:
    """A backend for each registered system the operator's settings configure, in apply order.

    Only the operator's settings are used; `repo` only states expectations, checked here.
    """
    check_expectations(repo.config, targets, "the revision under review's")
    backends: dict[str, Backend] = {}
    for kind in registry.available():
        backend = kind.connect(targets)
        if backend is not None:
            backends[backend.system] = backend
    confine(backends, repo)
    return backends


def confine(backends: Mapping[str, Backend], repo: ConfigRepo) -> None:
    """Tell each backend the tenants of this revision (e.g. whose confined deployer writes their workloads)."""
    for backend in backends.values():
        backend.confine(repo)


def read_live(backends: Mapping[str, Backend]) -> tuple[dict[str, LiveState], list[SystemStatus]]:
    """Live state per system; a system that cannot be read is reported, not raised."""
    states: dict[str, LiveState] = {}
    statuses: list[SystemStatus] = []
    for name, backend in backends.items():
        try:
            states[name] = backend.read()
        except BackendError as exc:
            statuses.append(SystemStatus(name, redact(backend.target), reachable=False, error=redact(str(exc))))
            continue
        statuses.append(SystemStatus(name, redact(backend.target), reachable=True, notes=tuple(backend.notes)))
    return states, statuses


_TRUSTED: dict[tuple[Path, str, str], TrustedBase] = {}


_CHOSEN: dict[tuple[Path, str | None, str | None], tuple[str, str]] = {}
_FULL_SHA = re.compile(r"[0-9a-f]{40}")


def _choose(root: Path, applied: str | None, named: str | None) -> tuple[str, str]:
    """`trust.choose`, resolved to a sha; remembered when both inputs are full shas (a commit and the ancestry
    of two commits never change), so a loop pass does not ask git again and again for the same answer."""
    key = (root, applied, named)
    known = _CHOSEN.get(key)
    if known is not None:
        return known
    revision, origin = trust.choose(root, applied, named)
    chosen = (trust.resolve(root, revision), origin)
    if all(v is None or _FULL_SHA.fullmatch(v) for v in (applied, named)):
        if len(_CHOSEN) >= 64:
            _CHOSEN.clear()
        _CHOSEN[key] = chosen
    return chosen


def load_trusted(
    root: Path,
    states: Mapping[str, LiveState],
    statuses: Sequence[SystemStatus],
    backends: Mapping[str, Backend],
    named: str | None,
) -> TrustedBase:
    """The trusted base: the revision the operator named, else the one mlcp last recorded as applied.

    Refused while a system that could hold the applied revision is unreachable and none that was read holds it:
    the applied revision is unknown then, so a named revision cannot be told stale (a setting left from the
    bootstrap would judge by the rules before the last applied change) and "nothing applied yet" may be false.
    """
    applied = next((s.inventory.revision for s in states.values() if s.inventory.revision), None)
    unreachable = [s for s in statuses if not s.reachable and backends[s.system].keeps_applied_revision]
    if applied is None and unreachable:
        down = "; ".join(f"{s.system} ({s.error})" for s in unreachable)
        raise MlcpError(
            f"the last applied revision cannot be read: {down}; mlcp judges no change until it can tell which "
            "revision's rules apply (a named trusted base may be older than the last applied one)",
            "make the system reachable and plan again",
        )
    sha, origin = _choose(root, applied, named)
    key = (root, sha, origin)
    if key not in _TRUSTED:
        if len(_TRUSTED) >= 4:
            _TRUSTED.pop(next(iter(_TRUSTED)))
        previous = next((b for (at, _, _), b in reversed(_TRUSTED.items()) if at == root), None)
        _TRUSTED[key] = trust.load(root, sha, origin, previous)  # reads only the tenant files that changed
    return _TRUSTED[key]


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
    states, statuses = already_read if already_read is not None else read_live(backends)
    if not states:
        reasons = "; ".join(s.error or "" for s in statuses)
        raise MlcpError(f"no target system could be read: {reasons}", "check the kubeconfig / tracking URI")
    operator = targets or Targets()
    trusted = load_trusted(desired.repo.root, states, statuses, backends, operator.trusted_base)
    check_expectations(trusted.repo.config, operator, "the trusted base's")
    for backend in backends.values():
        backend.judge_by(trusted)
    keeper = governance.GovernanceBackend.of(trusted)
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
    )
    partial = selection.tenants if selection is not None else None
    rules = governance.render(desired.repo, governance.policy_files(desired.repo.root), partial)
    candidates = desired.objects if partial is None else _candidates(desired, partial, states, dirty or {})
    objects = [o for o in [*rules, *candidates] if o.ref.system in states]
    scope = _scope(selection, objects, desired, [s.inventory for s in states.values()], dirty or {})
    if scope is not None and partial is not None:
        objects += _declaring(desired, scope, objects)
    if scope is not None:
        objects = [o for o in objects if scope.includes(o.ref)]
    objects = _covered(objects, states)
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
    served = serving.complete(objects, live, [b for b in reachable.values() if isinstance(b, serving.VersionResolver)])
    planned = serving.couple(
        review(plan(served.objects, live, inventory, options, statuses), reachable), served.problems
    )
    planned.meta["trustedBase"] = {"revision": trusted.revision, "origin": trusted.origin}
    planned.meta["identities"] = VERIFIED_IDENTITIES if _signed(trusted) else "claimed"
    if authorize:
        authorizer = PlanAuthorizer(desired.repo, desired.revision, trusted.revision, trusted, enforce_policy)
        planned = settled(serving.couple(authorizer.authorize(planned)))
        planned.meta["baseRevision"] = trusted.revision
    planned.meta["requests"] = {name: b.requests for name, b in backends.items()}
    for name in states:
        planned.meta.update(backends[name].plan_meta)  # e.g. the registry's registryAuth
    return planned, states


def _covered(objects: list[DesiredObject], states: Mapping[str, LiveState]) -> list[DesiredObject]:
    """The objects whose live state was read: a sharded replica's systems hold only its tenants' (LiveState.covers),
    so another replica's tenants are not planned here (they would all look absent: creates, namespace lookups)."""
    if all(s.covers is None for s in states.values()):
        return objects
    return [o for o in objects if not o.tenant or (covers := states[o.ref.system].covers) is None or covers(o.tenant)]


def _scope(
    selection: Selection | None,
    objects: list[DesiredObject],
    desired: Desired,
    inventories: list[Inventory],
    dirty: Mapping[str, frozenset[ObjectRef] | None],
) -> selections.Scope | None:
    """What a selection plans. Governance objects change only with the revision or the base, which the
    selection already follows; serving follows the registry's live state, so it is always planned."""
    if selection is None or selection.tenants is None:
        return None
    always = _index(desired).follows
    dirty = {**dirty, governance.SYSTEM: frozenset()}
    return selections.scope(selection, objects, inventories, dirty, always, desired.objects)


_FOLLOWS: dict[int, tuple[Sequence[DesiredObject], list[ObjectRef]]] = {}
"""Each rendered list's refs that follow the registry, by the list's identity (the list is kept with them, so
its id is never reused while it is here)."""
_FOLLOWS_KEPT = 50_000


def _following(objects: Iterable[DesiredObject]) -> list[ObjectRef]:
    kind = serving.INFERENCE_SERVICE
    return [o.ref for o in objects if o.ref.kind == kind and serving.follows_registry(o)]


class _Index:
    """A revision's desired objects by tenant ("" for none), by ref and by system, and those that follow the
    registry: each built on first use, from the loader's own grouping by tenant when it has one."""

    def __init__(self, desired: Desired) -> None:
        self.objects = desired.objects
        self._by_tenant = desired.by_tenant
        self._refs = desired.refs

    @cached_property
    def by_tenant(self) -> Mapping[str, Sequence[DesiredObject]]:
        if self._by_tenant is not None:
            return self._by_tenant
        found: dict[str, list[DesiredObject]] = {}
        for obj in self.objects:
            found.setdefault(obj.tenant or "", []).append(obj)
        return found

    @cached_property
    def follows(self) -> list[ObjectRef]:
        """The refs of the objects that follow the registry; with the loader's grouping by tenant, each tenant's
        found once per rendered list (a revision keeps the lists of the tenants it did not change), not by a walk
        of every object of every revision."""
        if self._by_tenant is None:
            return _following(self.objects)
        found: list[ObjectRef] = []
        for objects in self._by_tenant.values():
            kept = _FOLLOWS.get(id(objects))
            if kept is None or kept[0] is not objects:
                if len(_FOLLOWS) >= _FOLLOWS_KEPT:
                    _FOLLOWS.clear()
                kept = _FOLLOWS[id(objects)] = (objects, _following(objects))
            found.extend(kept[1])
        return found

    @cached_property
    def _by_ref(self) -> RefIndex:
        """The loader's index by ref when it carries one, else one built from the objects."""
        return self._refs() if self._refs is not None else RefIndex.of(self.objects)

    def declaring(self, ref: ObjectRef) -> list[DesiredObject]:
        """The objects that declare `ref` (asked only when a pass plans an object outside its selected tenants:
        a live change, a record, a deleted object)."""
        return self._by_ref.declaring(ref)

    def of_system(self, system: str) -> list[DesiredObject]:
        """A system planned whole (it cannot say what changed live)."""
        return [o for o in self.objects if o.ref.system == system]


_INDEXES: list[tuple[Desired, _Index]] = []
"""The indexes of the last revisions planned: a loop pass at the same revision looks up, not walks, 90,000
objects."""


def _index(desired: Desired) -> _Index:
    for kept, index in _INDEXES:
        if kept is desired:
            return index
    index = _Index(desired)
    _INDEXES.insert(0, (desired, index))
    del _INDEXES[2:]
    return index


def _declaring(desired: Desired, scope: selections.Scope, objects: list[DesiredObject]) -> list[DesiredObject]:
    """The desired objects of refs the scope plans that are not among `objects` (the candidates): an object of
    a tenant not selected that changed live, or that mlcp's records give to a selected tenant. Planned with
    its desired state, never as a stranger to delete."""
    have = {o.ref for o in objects}
    missing = [ref for refs in scope.refs.values() for ref in refs if ref not in have]
    if not missing:
        return []
    index = _index(desired)
    return [o for ref in missing for o in index.declaring(ref)]


def _candidates(
    desired: Desired,
    tenants: frozenset[str],
    states: Mapping[str, LiveState],
    dirty: Mapping[str, frozenset[ObjectRef] | None],
) -> list[DesiredObject]:
    """The desired objects a selection may plan: every object of a system that cannot say what changed live
    (it is planned whole), and the platform's and the selected tenants' objects of the others."""
    index = _index(desired)
    whole = {name for name in states if dirty.get(name) is None and name != governance.SYSTEM}
    found = [o for name in whole for o in index.of_system(name)]
    for tenant in ("", *tenants):
        found.extend(o for o in index.by_tenant.get(tenant, ()) if o.ref.system not in whole)
    return found


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
