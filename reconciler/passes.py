"""One reconcile pass: the whole desired state of one revision, converged tenant by tenant.

fetch → load (tenants with problems set aside) → read live and plan (the
same engine as `mlcp plan`) → hold back tenants that are backing off →
authorize each tenant against *its* last applied revision → apply through
the fence, with an audit intent before the writes and outcomes after each
group of them (reconciler.passaudit) → events → record per-tenant
revisions → report (reconciler.passreport). Level-triggered: nothing here depends on what the previous pass
saw, so a restarted controller or a new leader converges without replaying
history, and drift is healed on every pass.

A pass runs in a lane: by default the whole desired state under the
leader's Lease. With shards, a replica runs one lane per shard it holds —
that shard's tenants, fenced by its Lease, audited in its own chain, its
inventory entries and revisions merged into the shared records without
touching the others' — and the leader runs the platform lane (objects of no
tenant, the governance objects, and the trusted base's record). Each lane
keeps its own memory of what changed since its last pass
(reconciler.passmemory, reconciler.lanememory), so a shard's lane plans only
its changed tenants, as the single lane does; a relist of the live state (start,
new term, resync) makes every lane plan all of its tenants once.

Outcomes are collected as apply reports them, so even when the API server
disappears in the middle (and apply's final inventory write raises), every
change that was attempted still gets its outcome record. A log that cannot
be written stops the pass before its first write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

from controlplane.audit import AuditError, AuditStore
from controlplane.errors import InvalidConfig, MlcpError, Refused
from controlplane.loading.repo import ConfigRepo
from controlplane.plans import Plan
from controlplane.rendering.mlflow_objects import SYSTEM as MLFLOW
from reconciler import (
    confinement,
    connecting,
    engine,
    events,
    governance,
    governance_backend,
    judging,
    logs,
    nextbase,
    partition,
    passreport,
    passwrites,
    serving,
    verdicts,
)
from reconciler import selection as selections
from reconciler.backends import movers
from reconciler.backends.base import Backend, BackendError, Outcome, Watching
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backoff import Tracker
from reconciler.desiredcache import DesiredCache
from reconciler.fencing import Fence, FencedStore
from reconciler.gitsync import Checkout, GitSource, SourceError
from reconciler.lane import Lane
from reconciler.metrics import Metrics
from reconciler.passaudit import PassAudit
from reconciler.passbackends import PassBackends
from reconciler.passmemory import PassMemory
from reconciler.selection import Selection
from reconciler.settling import settled
from reconciler.state import StateStore, TenantRevisions
from reconciler.trust import TrustedBase
from reconciler.verdicts import PassResult


@dataclass(frozen=True)
class Settings:
    targets: engine.Targets = field(default_factory=engine.Targets)
    prune: bool = False
    identity: str = "mlcp-reconciler"
    concurrency: int = 8
    events: bool = True
    watch: bool = False
    """Keep live state with each backend's watch, where it has one: a no-op pass then sends no request."""
    resync: float = 300.0
    """Seconds between full passes: every tenant planned, live state listed afresh (by the watch cache, which
    lists every kind again and hands the pass the result) instead of read from the watch's events. In
    between, a pass plans only the tenants whose desired or live state changed (reconciler.selection)."""


class Reconciler:
    """Runs passes for one config repo branch; keeps per-tenant backoff between them."""

    def __init__(
        self,
        source: GitSource,
        settings: Settings,
        audit: AuditStore,
        metrics: Metrics | None = None,
        fence: Fence | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.settings = settings
        self.audit = audit
        self.metrics = metrics or Metrics()
        self.fence = fence or Fence()
        self.clock = clock
        self.tracker = Tracker()
        self.observers: list[Callable[[Outcome], None]] = []
        """Called with each outcome as apply reports it (progress, tests)."""
        self.connection = PassBackends(self.metrics)
        """The backends, connected at the first pass and kept (reconciler.passbackends)."""
        self.pass_audit = PassAudit(FencedStore(audit, self.fence), self.metrics, settings.identity)
        self.lane = Lane(self.pass_audit, self.fence)
        """The lane of `run_pass()` without one: everything, under the leader's Lease."""
        self.judging = judging.Judging()
        """Which revision judges each tenant's changes (its own applied one while it holds)."""
        self.memory = PassMemory(clock)
        """What changed since each lane's last pass (reconciler.passmemory): what the next pass plans."""
        self.desired_cache = DesiredCache(self.memory.lanes.loaded)
        """The desired state of the last revision loaded (reconciler.desiredcache): each lane hears of a load."""
        self.holds: Callable[[str], bool] | None = None
        """The tenants whose live state this replica keeps (the shards it holds, reconciler.shardedloop); None: all."""

    def forget_state(self) -> None:
        """Read the per-tenant revisions and the inventory from the cluster again (a new term as leader)."""
        self.lane.state = None
        self.memory.new_term()
        self.pass_audit.forget()
        for backend in self.connection.backends.values():
            backend.forget()

    def forget_records(self) -> None:
        """Read mlcp's inventory and revisions again on the next pass, keeping the live state and every other lane's
        memory (a shard just taken: its previous holder wrote them; the watch cache saw every change meanwhile)."""
        for backend in self.connection.backends.values():
            backend.forget_records()

    def forget_lane(self, name: str) -> None:
        """A lane this replica no longer runs: its memory goes, and it starts with a full pass if it comes back."""
        self.memory.lanes.drop(name)

    def tenants(self) -> set[str]:
        """The tenants of the revision last loaded (empty before the first pass)."""
        return self.desired_cache.tenants()

    @property
    def backends(self) -> Mapping[str, Backend]:
        """The connected backends by system (none before the first pass): what the passes read and write."""
        return self.connection.backends

    @property
    def watches(self) -> tuple[Watching, ...]:
        """The backends' running watches (none before the first pass, or without `Settings.watch`)."""
        return tuple(self.connection.watches)

    @property
    def audit_problem(self) -> str | None:
        """Why the audit log cannot be written (nothing is applied until it can), or None."""
        return self.pass_audit.problem

    def close(self) -> None:
        """Stop the watches' threads, if any."""
        self.connection.close()

    def run_pass(self, lane: Lane | None = None) -> PassResult:
        lane = lane or self.lane
        result = PassResult()
        started = self.clock()
        try:
            checkout = self.source.sync()
            result.revision = checkout.revision
            with logs.context(revision=checkout.revision, shard=lane.name or None):
                self._converge(checkout, result, lane)
        except SourceError as exc:
            result.error, result.stage = str(exc), "fetch"
        except InvalidConfig as exc:
            result.error, result.stage = str(exc), "validate"
        except Refused as exc:
            result.error, result.stage = f"refused ({exc.rule}): {exc} ({exc.hint})", result.stage or "plan"
            lane.audit.refused(result.revision, exc)
        except AuditError as exc:
            result.error, result.stage = lane.audit.failed(exc), "audit"
        except (MlcpError, BackendError, OSError) as exc:
            result.error, result.stage = str(exc), result.stage or "plan"
        result.duration = self.clock() - started
        if result.error:
            self.memory.failed(lane, f"the last pass failed ({result.stage})")
        passreport.report(result, self.metrics, lane.name, len(self.tracker.entries))
        return result

    # -- the pass --------------------------------------------------------------------------------------------

    def _converge(self, checkout: Checkout, result: PassResult, lane: Lane, again: bool = False) -> None:
        result.stage = "validate"
        if lane.sharded:
            self.memory.of(lane)  # registered first: it hears of this load
        parts, rendered = self.desired_cache.load(checkout)
        result.stage = "plan"
        backends, kube = self._connect(parts.desired.repo)
        before = kube.requests
        now = self.clock()
        state = lane.state if lane.state is not None else StateStore(kube).read()
        selection, dirty, live = self.memory.select(
            parts,
            backends,
            state,
            rendered,
            now,
            lane,
            resync=self.settings.resync,
            trusted_base=self.settings.targets.trusted_base,
            backing_off=self.tracker.entries,
        )
        result.selection = selection
        plan, states = engine.make_plan(
            parts.desired,
            backends,
            prune=self.settings.prune,
            authorize=False,
            already_read=live,
            targets=self.settings.targets,
            selection=selection,
            dirty=dirty,
        )
        trusted = cast(governance_backend.GovernanceBackend, backends[governance.SYSTEM]).base
        if self._rejudged(checkout, parts, trusted, lane) and not again:
            self._converge(checkout, result, lane, again=True)  # nothing was written or judged yet
            return
        broken = {tenant: problems for tenant, problems in parts.broken.items() if lane.covers(tenant)}
        verdicts.set_aside_broken(broken, result, self.tracker, checkout.revision, now)
        held = self.tracker.held(checkout.revision, now)
        result.held = {**{k: why for k, why in held.items() if lane.covers(k)}, **result.failed}
        result.planned = len(plan.changes)
        result.record_problems = tuple(p for backend in backends.values() for p in backend.record_problems)
        unreachable = [f"{s.system}: {s.error}" for s in plan.systems if not s.reachable]
        plan, ungoverned = self._authorized(plan, parts, state, trusted, held, result, lane, checkout.clean, backends)
        result.stage = "apply"
        complete = not unreachable and not result.held
        recorded = self._next_base(plan, parts, trusted, lane) if complete and lane.platform else None
        set_aside = [verdicts.set_aside(tenant, problems) for tenant, problems in broken.items()]
        unplanned = None if selection.full else selections.unplanned(plan, states)
        with lane.audit.store.exclusive():  # one turn: nobody else's records between our intents and outcomes
            journal = lane.audit.begin(plan, checkout.path, kube, check=selection.full)
            untrusted = verdicts.untrusted_records(result.record_problems) if lane.platform else []
            journal.note([*set_aside, *untrusted])
            progress = self._progress(result.outcomes)
            inventory_error = passwrites.apply_fenced(
                plan,
                backends,
                recorded,
                journal,
                unplanned,
                lane,
                concurrency=self.settings.concurrency,
                progress=progress,
            )
        outcomes = result.outcomes
        if self.settings.events:
            events.publish(
                kube, outcomes, checkout.revision, self.settings.identity, lane.fence.leading, lane.fence.remaining
            )
        share = verdicts.Share(lane.covers, lane.platform)
        verdicts.judge(plan, result, unreachable, kube, self.tracker, self.clock(), share, parts)
        if inventory_error and not result.error:
            result.error = f"recording mlcp's inventory failed: {inventory_error}"
        finished = not (unreachable or result.abandoned or result.error)
        unsettled = [*result.failed, *result.held, *ungoverned]  # a tenant whose people change is denied lags
        passwrites.finish(kube, state, self.memory.converged(plan, state, lane, selection, unsettled, finished), lane)
        result.requests = kube.requests - before
        if not result.failed and not result.held and not result.error and lane.platform:
            self.metrics.revision_time.set(checkout.committed_at)
        self._remember(result, checkout.revision, trusted, selection, lane)

    def _progress(self, collected: list[Outcome]) -> Callable[[Outcome], None]:
        """Each outcome into `collected` as apply reports it, and to the observers."""

        def progress(outcome: Outcome) -> None:
            collected.append(outcome)
            for observer in self.observers:
                observer(outcome)

        return progress

    def _authorized(
        self,
        plan: Plan,
        parts: partition.Partitioned,
        state: TenantRevisions,
        trusted: TrustedBase,
        held: Mapping[str, str],
        result: PassResult,
        lane: Lane,
        clean: bool,
        backends: Mapping[str, Backend],
    ) -> tuple[Plan, set[str]]:
        """The plan held back, authorized and narrowed to the lane; and the tenants whose change of people may not
        go ahead: they lag (their lane does not record them converged) until it may, or is reverted."""
        # the platform lane judges every tenant's people: it holds those of tenants backing off or set aside
        # whatever their shard (their changes wait, and the base with them, as in the single lane)
        aside = dict.fromkeys(parts.broken, "set aside: its specs have problems")
        holding = {**held, **aside, **result.held} if lane.platform else result.held
        kept = partition.hold(plan, holding)
        read = {s.system for s in plan.systems if s.reachable}  # an unread registry says nothing of who may move
        registry = movers.reader_of({n: b for n, b in backends.items() if n in read}, MLFLOW)
        desired = parts.desired
        authorized = self.judging.authorize(kept, desired.repo, desired.revision, state, trusted, clean, registry)
        plan = settled(serving.couple(authorized))
        connecting.entrust(backends, governance.allowed_tenants(plan.changes))  # every lane's tenants, before narrowing
        plan = confinement.confined(plan, backends)  # what apply would refuse, shown as blocked (and recorded so)
        ungoverned = {partition.key_of(c) for c in nextbase.pending(plan) if c.blocked}
        if lane.sharded:  # after authorizing: a tenant's changes are judged with its governance changes in sight
            plan = partition.narrow(plan, lane.covers, lane.platform)
            result.planned = len(plan.changes)
        return plan, ungoverned

    def _next_base(self, plan: Plan, parts: partition.Partitioned, trusted: TrustedBase, lane: Lane) -> str | None:
        """The revision to record as the next trusted base: decided by every difference in the rules between the
        whole revision and the base, never by what this pass selected (nextbase.next_base).

        A tenant set aside (any shard's) was not loaded, so whether its people differ from the base was judged by
        nobody: it keeps the base, as a tenant backing off does. Its tenant.yaml would otherwise enter the base
        unapproved, and a tenant.yaml of the base, loaded or not, keeps the registry names it owns there: a
        stranger's broken `tenants/vision-detector/` took vision's model and had vision set aside."""
        people = self.memory.people(lane, parts, trusted) | frozenset(parts.broken)
        return nextbase.next_base(plan, trusted.revision, people)

    def _remember(
        self, result: PassResult, revision: str, trusted: TrustedBase, selection: Selection, lane: Lane
    ) -> None:
        """What the next pass of the lane starts from. A pass that left writes unattempted (the lease's time ran
        short) took the watch's and the loader's changes for them: its next pass plans every tenant again."""
        if result.error:
            return
        if result.abandoned:
            self.memory.failed(lane, "writes were not attempted (the lease's time ran short)")
            return
        self.memory.remember(revision, trusted, selection, lane)

    def _rejudged(self, checkout: Checkout, parts: partition.Partitioned, trusted: TrustedBase, lane: Lane) -> bool:
        """Whether the load set aside other tenants than the trusted base, known only now, sets aside
        (`DesiredCache.rebased`): then the lane plans everything again before anything is judged, written or
        counted against a tenant."""
        if not self.desired_cache.rebased(checkout, parts, trusted.established):
            return False
        self.memory.failed(lane, "the trusted base changed whose registry names are whose")
        return True

    def _connect(self, repo: ConfigRepo) -> tuple[dict[str, Backend], KubeClient]:
        """The backends and the home cluster of the loop's own records (reconciler.passbackends); the revisions
        recorded are read again from a newly connected home."""
        backends, kube, fresh = self.connection.connect(repo, self.settings.targets, self.holds, self.settings.watch)
        if fresh:
            self.lane.state = None
        return backends, kube
