"""Applying a plan: ordered by rank, bounded concurrency within a rank, one outcome per change.

Creates and updates go in rank order (namespaces, then service accounts and
RBAC, then quotas, then workloads), deletes in reverse, and systems in each
backend's `order` (the registry before the cluster, so serving never points
at an alias that has not moved). No-ops and blocked changes send nothing. The
inventory is written last, and only when it changed, so a no-op apply sends
no writes at all. It carries, per object, the spec, tenant and source of the
change that wrote it (`Claim`): later deletions are attributed from that, never
from the live object. Objects about to be created are recorded once before the
first write too, so a pass cut short after creating a namespace still knows the
namespace is mlcp's (and whose). A create whose answer was lost (`Outcome.uncertain`:
a timeout, a dropped connection, a server error) keeps that record: the create may
have happened, and the next pass must find the object as mlcp's, not as a stranger
that only an administrator's adoption could hand back.

Authorization and audit are passed in, not imported. `authorize` has the last
word on each change before it is written. The audit journal gets every change
about to be written before the first write (so a log that cannot be written
stops apply before anything changes) and the outcomes of each group of writes
after it, appended while the next group's writes are in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import Protocol

from controlplane.planning import Claim, InventoryRecord
from controlplane.plans import Action, Change, ObjectRef, Plan
from reconciler.backends.base import ApplyOptions, Backend, LiveState, Outcome, Status

Progress = Callable[[Outcome], None]
Authorize = Callable[[Change], str | None]
"""Whether one change may be written now: a denial reason, or None."""


def unchecked(change: Change) -> str | None:
    """No check at apply (the plan's own blocks still hold): for tools and tests that apply a plan they built."""
    return None


class Journal(Protocol):
    """Where apply records what it is about to do and what it did (controlplane.audit.Journal)."""

    def intend(self, changes: Sequence[Change], finished: Sequence[Outcome]) -> None:
        """Before the first write: the changes to be written, and the outcomes of those that will not be."""
        ...

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """After a group of writes: their outcomes."""
        ...


@dataclass
class ApplyReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is Status.failed]

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for outcome in self.outcomes:
            out[outcome.status.value] += 1
        return out


def stale_changes(plan: Plan, live: Mapping[str, LiveState]) -> list[str]:
    """Why a saved plan no longer matches the live state (empty when it still does)."""
    problems = []
    for change in plan.changes:
        state = live.get(change.ref.system)
        if state is None:
            continue
        found = state.objects.get(change.ref)
        now = found.version if found else None
        if now != change.live_version:
            was = change.live_version or "absent"
            problems.append(f"{change.ref}: was {was} when planned, now {now or 'absent'}")
    return problems


def _phases(changes: Sequence[Change], order: Mapping[str, int]) -> list[list[Change]]:
    """Groups that may run concurrently, in the order they must run (`order`: each system's place)."""
    last = max(order.values(), default=0) + 1

    def key(c: Change) -> tuple[int, int, int]:
        deleting = c.action is Action.delete
        return (1 if deleting else 0, order.get(c.ref.system, last), -c.rank if deleting else c.rank)

    ordered = sorted(changes, key=key)
    return [list(group) for _, group in groupby(ordered, key=key)]


def _skipped(change: Change) -> Outcome:
    return Outcome(change, Status.skipped, change.blocked or "")


def apply_plan(
    plan: Plan,
    backends: Mapping[str, Backend],
    options: ApplyOptions,
    *,
    concurrency: int = 8,
    progress: Progress | None = None,
    authorize: Authorize,
    audit: Journal | None = None,
    unplanned: Mapping[str, frozenset[ObjectRef]] | None = None,
) -> ApplyReport:
    """Apply every pending, unblocked change of `plan` that `authorize` lets through.

    `authorize` is the last word before each write (a denial reason, or None), like gitops-engine's
    PermissionValidator; the loop and `mlcp apply` pass `authorizing.decided`. It has no default: a caller
    that applies without a check says so by passing `unchecked`, so no new caller skips authorization by
    leaving the argument out. An error from `audit` stops apply
    where it is: before the first write, or, when a group's outcomes cannot be appended (which happens while
    the next group is in flight, so the API server is never idle while the log is written), with the writes
    already sent: no further write starts, and the intents of the writes in flight stay open for the next
    turn to close. `unplanned`: inventoried objects the
    plan did not look at (a loop pass that planned only some tenants), kept in the inventory as they are.
    """
    report = ApplyReport()

    def run(change: Change) -> Outcome:
        denial = authorize(change)
        if denial:
            return Outcome(change, Status.skipped, denial)
        return backends[change.ref.system].apply(change, options)

    pending = [c for c in plan.changes if c.action is not Action.noop]
    for change in pending:
        if change.blocked:
            report.outcomes.append(_skipped(change))
            if progress:
                progress(report.outcomes[-1])
    runnable = [c for c in pending if not c.blocked and c.ref.system in backends]
    if audit is not None:
        audit.intend(runnable, list(report.outcomes))
    _record_ahead(plan, backends, runnable, options, unplanned or {})
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        done: list[Outcome] = []
        for phase in _phases(runnable, {name: b.order for name, b in backends.items()}):
            writing = [pool.submit(run, change) for change in phase]
            if audit is not None and done:  # the last group's outcomes, appended while this group is in flight
                audit.record(done)
            done = []
            for future in writing:
                outcome = future.result()
                done.append(outcome)
                report.outcomes.append(outcome)
                if progress:
                    progress(outcome)
        if audit is not None and done:
            audit.record(done)
    finally:  # on an error, writes not yet started are never sent; those in flight finish (their intents are open)
        pool.shutdown(wait=True, cancel_futures=True)
    _record_inventories(plan, backends, report, options, unplanned or {})
    return report


def _record_ahead(
    plan: Plan,
    backends: Mapping[str, Backend],
    runnable: list[Change],
    options: ApplyOptions,
    unplanned: Mapping[str, frozenset[ObjectRef]],
) -> None:
    """Record the objects about to be created before creating them (the applied revision is not advanced)."""
    for system, backend in backends.items():
        creates = {
            c.ref: Claim(InventoryRecord.of(c), wrote=True)
            for c in runnable
            if c.ref.system == system and c.action is Action.create
        }
        if creates:
            refs = frozenset(c.ref for c in plan.changes if c.ref.system == system) | unplanned.get(system, frozenset())
            backend.record_inventory(refs, replace(options, revision=None, claims=creates))


def _record_inventories(
    plan: Plan,
    backends: Mapping[str, Backend],
    report: ApplyReport,
    options: ApplyOptions,
    unplanned: Mapping[str, frozenset[ObjectRef]],
) -> None:
    """Inventory = what exists because of mlcp: desired objects present, plus deletes not done.

    Claims (attribution) come from the changes that were written, and from no-ops of objects that exist;
    a blocked change claims nothing. Two changes of one object (two tenants declaring one namespace)
    never both claim it: a write wins over a no-op, and two differing no-ops leave the old record.
    """
    results = {id(o.change): o.status for o in report.outcomes}
    unanswered = {id(o.change) for o in report.outcomes if o.uncertain and o.change.action is Action.create}
    for system, backend in backends.items():
        refs: set[ObjectRef] = set()  # with the objects the plan left alone (`unplanned`) below: no copy of them
        claims: dict[ObjectRef, Claim] = {}
        conflicting: set[ObjectRef] = set()
        for change in plan.changes:
            if change.ref.system != system:
                continue
            status = results.get(id(change))
            if change.action is Action.delete:
                if status is not Status.deleted:
                    refs.add(change.ref)
                continue
            maybe_made = id(change) in unanswered  # recorded ahead; its record stays (Outcome.uncertain)
            if change.action is Action.noop or change.action is Action.update or status is Status.applied or maybe_made:
                refs.add(change.ref)
            claim = Claim(InventoryRecord.of(change), wrote=True) if maybe_made else _claim(change, status)
            held = claims.get(change.ref)
            if claim is None or (held is not None and held.wrote and not claim.wrote):
                continue
            if held is not None and not held.wrote and not claim.wrote and held.record != claim.record:
                conflicting.add(change.ref)
            claims[change.ref] = claim
        for ref in conflicting:
            if not claims[ref].wrote:
                del claims[ref]
        backend.record_inventory(frozenset(refs) | unplanned.get(system, frozenset()), replace(options, claims=claims))


def _claim(change: Change, status: Status | None) -> Claim | None:
    if change.blocked:
        return None
    if status is Status.applied:
        return Claim(InventoryRecord.of(change), wrote=True)
    if change.action is Action.noop and change.live_version is not None:
        return Claim(InventoryRecord.of(change), wrote=False)
    return None
