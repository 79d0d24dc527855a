"""What a replica remembers from one pass to the next, so that a pass plans only what changed.

The single lane remembers the revision and trusted base of its last pass that did not fail, when its last full
pass ended, and why the next one must be full (the controller started, a new term, a failed pass); each shard
lane keeps the same in its own memory (reconciler.lanememory). A pass asks which tenants to plan (`select`, by
reconciler.selection's rules), then says which converged (`converged`) and what it saw (`remember`, or `failed`).

Kept apart from the pass (reconciler.passes) so the pass reads as the steps it takes, and so the rules of what
an incremental pass may skip live in one place: a tenant is left out only when nothing of its desired state, its
live state, its trusted base or its last result changed since a pass that converged it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from controlplane.plans import ObjectRef, Plan, SystemStatus
from reconciler import basechoice, connecting, governance_backend, nextbase, partition, trust
from reconciler import selection as selections
from reconciler.backends.base import Backend, LiveState
from reconciler.lanememory import LaneMemories, LaneMemory
from reconciler.selection import Selection
from reconciler.state import TenantRevisions
from reconciler.trust import TrustedBase

Live = tuple[dict[str, LiveState], list[SystemStatus]]
Dirty = dict[str, frozenset[ObjectRef] | None]


@dataclass(frozen=True)
class _People:
    """The tenants whose people or namespace differed between a revision and a trusted base (the governance backend
    of it)."""

    revision: str | None
    keeper: governance_backend.GovernanceBackend
    tenants: frozenset[str]

    def follows(self, since: tuple[str, TrustedBase]) -> bool:
        """Whether this was found for the revision and base of `since` (a lane's last pass)."""
        return self.revision == since[0] and self.keeper.base is since[1]


class LaneView(Protocol):
    """What the memory needs of a pass's lane (reconciler.lane.Lane)."""

    @property
    def name(self) -> str: ...
    @property
    def covers(self) -> Callable[[str], bool]: ...
    @property
    def platform(self) -> bool: ...
    @property
    def sharded(self) -> bool: ...


class PassMemory:
    """One replica's memory between passes: the single lane's in its fields, each shard lane's in `lanes`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.full: str | None = "the controller started"
        """Why the single lane's next pass must plan every tenant (None: only what changed, until the resync)."""
        self.last_full: float | None = None
        self.last: tuple[str, TrustedBase] | None = None
        """The revision and trusted base of the single lane's last pass that did not fail as a whole."""
        self.lanes = LaneMemories()
        """Per shard lane, what changed since its own last pass."""
        self._people: dict[str, _People] = {}
        """Per lane that records the base (by name), the tenants whose people or namespace differ from it (`people`)."""

    def of(self, lane: LaneView) -> LaneMemory:
        return self.lanes.of(lane.name, lane.covers, lane.platform)

    def new_term(self) -> None:
        self.full = "a new leadership term"

    def failed(self, lane: LaneView, why: str) -> None:
        """The lane's pass failed: its changes were taken from its memory, so its next pass plans all of its
        tenants."""
        if lane.sharded:
            self.of(lane).full = why
        else:
            self.full = why

    def select(
        self,
        parts: partition.Partitioned,
        backends: Mapping[str, Backend],
        state: TenantRevisions,
        rendered: set[str] | None,
        now: float,
        lane: LaneView,
        *,
        resync: float,
        trusted_base: str | None,
        backing_off: Iterable[str],
    ) -> tuple[Selection, Dirty, Live]:
        """Which tenants this pass plans (reconciler.selection), what changed live, and the live state.

        The changes are taken before reading, so one that lands in between is planned now and again next
        time, never lost. A full pass makes each backend read afresh: the watch's events are not trusted then,
        and the watch cache lists again (its first list, on start) for the pass instead of the pass listing
        beside it, so the live state is held once.
        """
        full = self.full
        if full is None and self.last_full is not None and now - self.last_full >= resync:
            full = "the resync interval"
        if full is not None:
            for backend in backends.values():
                backend.forget()
        dirty = {name: backend.changed() for name, backend in backends.items()}
        live = connecting.read_live(backends)
        unsettled = {*backing_off, *parts.broken}
        if lane.sharded:
            return self._select_lane(parts, state, live, dirty, full, lane, trusted_base, unsettled, backends)
        previous = self.last[1] if self.last is not None else None
        if full is not None or self.last is None or previous is None:
            return Selection.everything(full or "no earlier pass"), dirty, live
        trusted = basechoice.load_trusted(parts.desired.repo.root, live[0], live[1], backends, trusted_base)
        lagging = {t for t, at in state.by_tenant.items() if at != self.last[0]}
        changed = trust.changed_tenants(previous, trusted)
        governed = self.people(lane, parts, trusted, _touched(rendered, changed), self.last)
        return selections.choose(None, rendered, changed, unsettled | lagging | governed), dirty, live

    def _select_lane(
        self,
        parts: partition.Partitioned,
        state: TenantRevisions,
        live: Live,
        dirty: Dirty,
        relisted: str | None,
        lane: LaneView,
        trusted_base: str | None,
        unsettled: set[str],
        backends: Mapping[str, Backend],
    ) -> tuple[Selection, Dirty, Live]:
        """`select` for a shard's lane: what changed since *its* last pass (reconciler.lanememory)."""
        self.lanes.changed(dirty, {name: read.inventory for name, read in live[0].items()})
        if relisted is not None:
            self.lanes.relisted(relisted)
            self.full, self.last_full = None, self.clock()
        memory = self.of(lane)
        rendered, changed = memory.take()
        if memory.full is not None or memory.last is None:
            why, memory.full = memory.full or "no earlier pass", None  # set again if this pass fails
            if lane.platform:  # the governance objects of every tenant are the platform lane's
                return Selection.everything(why), changed, live
            tenants = lane_tenants(parts, state, live[0], lane.covers)
            return Selection(tenants, f"full: {why}"), dict.fromkeys(dirty, frozenset()), live
        last, previous = memory.last
        trusted = basechoice.load_trusted(parts.desired.repo.root, live[0], live[1], backends, trusted_base)
        covers = lane.covers
        lagging = {t for t, at in state.by_tenant.items() if at != last and covers(t)}
        base_changed = trust.changed_tenants(previous, trusted)
        if base_changed is not None and not lane.platform:
            base_changed = {t for t in base_changed if covers(t)}
        mine = {t for t in unsettled if covers(t)} | lagging
        if lane.platform:  # every tenant whose people or namespace differ from the base, judged (or held) every pass
            mine |= self.people(lane, parts, trusted, _touched(rendered, base_changed), memory.last)
        return selections.choose(None, rendered, base_changed, mine), changed, live

    def converged(
        self,
        plan: Plan,
        state: TenantRevisions,
        lane: LaneView,
        selection: Selection | None,
        unsettled: Iterable[str],
        complete: bool,
    ) -> dict[str, str]:
        """The tenants that converged to this revision: those planned without failing or being held
        (`unsettled`), and those not planned that had converged to the last pass's revision (nothing of theirs
        changed). None at all when the pass did not complete (a system unreachable, writes abandoned, an error)."""
        if not complete or plan.revision is None:
            return {}
        covers = lane.covers
        planned = partition.keys(plan.changes) | ({partition.PLATFORM} if lane.platform else set())
        # only the lane of a tenant moves its revision: the platform lane plans tenants' governance objects, which
        # say nothing of whether their own lane applied (or denied) their other changes
        converged = {key: plan.revision for key in planned if covers(key)}
        previous = self.of(lane).last if lane.sharded else self.last
        if selection is not None and not selection.full and previous is not None:
            last = previous[0]
            converged.update(
                (t, plan.revision)
                for t, at in state.by_tenant.items()
                if at == last and not selection.includes(t) and covers(t)
            )
        for key in unsettled:
            converged.pop(key, None)
        return converged

    def people(
        self,
        lane: LaneView,
        parts: partition.Partitioned,
        trusted: TrustedBase,
        touched: set[str] | None = None,
        since: tuple[str, TrustedBase] | None = None,
    ) -> frozenset[str]:
        """The tenants whose people or namespace differ between this revision and the trusted base, for the lane
        that records the base: each must be planned and allowed before the base moves (nextbase.next_base),
        whatever the pass selected. Found from the lane's last answer when it was for `since` (the lane's last
        pass) and `touched` names every tenant whose tenant.yaml may have changed since, on either side; else from
        every tenant (a full pass, which compares every one anyway)."""
        keeper = governance_backend.GovernanceBackend.of(trusted)
        repo, revision = parts.desired.repo, parts.desired.revision
        known = self._people.get(lane.name)
        if known is not None and known.revision == revision and known.keeper is keeper:
            return known.tenants
        if known is not None and touched is not None and since is not None and known.follows(since):
            found = {t for t in known.tenants if t not in touched} | nextbase.differing_tenants(repo, keeper, touched)
        else:
            found = nextbase.differing_tenants(repo, keeper)
        self._people[lane.name] = _People(revision, keeper, frozenset(found))
        return frozenset(found)

    def remember(self, revision: str, trusted: TrustedBase, selection: Selection, lane: LaneView) -> None:
        """What the next pass of this lane compares with: this pass's revision and base (it did not fail)."""
        if lane.sharded:
            self.of(lane).last = (revision, trusted)
            return
        self.last = (revision, trusted)
        if selection.full:  # the next resync is due an interval after this one ended
            self.full, self.last_full = None, self.clock()


def _touched(rendered: set[str] | None, base_changed: set[str] | None) -> set[str] | None:
    """The tenants whose people or namespace may differ since the last pass: rendered again, or changed in the base."""
    return None if rendered is None or base_changed is None else rendered | base_changed


def lane_tenants(
    parts: partition.Partitioned, state: TenantRevisions, live: Mapping[str, LiveState], covers: Callable[[str], bool]
) -> frozenset[str]:
    """Every tenant a shard's lane may have to write: declared, set aside, recorded in the revisions or in mlcp's
    inventory (a deleted tenant's objects are pruned by the lane of its shard). A full pass of the lane plans these
    (each planned with every object it declares or mlcp's records give it), not every tenant of every shard."""
    names = {s.tenant for s in parts.desired.repo.specs if s.tenant}
    names |= parts.broken.keys() | state.by_tenant.keys()
    for system in live.values():
        names |= {r.tenant for r in system.inventory.records.values() if r.tenant}
    return frozenset(t for t in names if t and covers(t))
