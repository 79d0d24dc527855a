"""Applying a plan: ordered by rank within each namespace, bounded concurrency, one outcome per change.

Creates and updates go in rank order (namespaces, then service accounts and
RBAC, then quotas, then workloads), deletes in reverse, and systems in each
backend's `order` (the registry before the cluster, so serving never points
at an alias that has not moved: a serving change whose alias move did not
apply is not written, apply_order.prerequisite). The order is kept per
namespace, not per rank of the whole plan (reconciler.apply_order): a tenant's objects wait for
its Namespace and its lower ranks only, so the next tenants' writes keep the
API server busy meanwhile. No-ops and blocked changes send nothing. The
inventory is written last, and only when it changed, so a no-op apply sends
no writes at all. It carries, per object, the spec, tenant and source of the
change that wrote it (`Claim`): later deletions are attributed from that, never
from the live object. Objects about to be created are recorded before they are
written too (in a few growing runs ahead of the writes), so a pass cut short
after creating a namespace still knows the namespace is mlcp's (and whose). A
create whose answer was lost (`Outcome.uncertain`: a timeout, a dropped
connection, a server error) keeps that record: the create may have happened,
and the next pass must find the object as mlcp's, not as a stranger that only
an administrator's adoption could hand back.

Authorization and audit are passed in, not imported. `authorize` has the last
word on each change before it is written. The audit journal gets the intent of
each change before it is written (so a log that cannot be written stops apply
before anything changes) and the outcomes after, in chunks: the first chunk of
intents before the first write, the next ones while the first writes are in
flight (one run of appends, no outcome between them: the next turn finds open
intents in that run), then the outcomes while later writes are in flight, so the
API server does not wait for the log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from controlplane.plans import Action, Change, ObjectRef, Plan
from reconciler import applyrecords, writeloop
from reconciler.apply_order import prerequisite, schedule
from reconciler.backends.base import NOT_ATTEMPTED, ApplyOptions, Backend, LiveState, Outcome, Status, was_attempted
from reconciler.writeloop import FIRST_CHUNK, Journal, Progress

Authorize = Callable[[Change], str | None]
"""Whether one change may be written now: a denial reason, or None."""


def unchecked(change: Change) -> str | None:
    """No check at apply (the plan's own blocks still hold): for tools and tests that apply a plan they built."""
    return None


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


def _skipped(change: Change) -> Outcome:
    return Outcome(change, Status.skipped, change.blocked or "")


def _unmet(
    change: Change, pending: Mapping[ObjectRef, Change], finished: Mapping[ObjectRef, Outcome]
) -> Outcome | None:
    """A skip of `change` when the write it must follow did not work (apply_order.prerequisite), else None.

    Not attempted (abandoned) only when that one was not (the fence refused it: the lease was lost); otherwise it
    failed, and its tenant with it, or was held, and this one is left to the next apply like a blocked change."""
    need = prerequisite(change, pending)
    if need is None:
        return None
    before = finished.get(need.ref)
    if before is not None and before.status is Status.applied:
        return None
    if before is not None and not was_attempted(before):
        why = before.message.removeprefix(NOT_ATTEMPTED)
        return Outcome(change, Status.skipped, f"{NOT_ATTEMPTED}{need.what} was not attempted ({why}); {need.rule}")
    why = f"{before.status.value}: {before.message}" if before else "not written: its system is not reachable"
    return Outcome(change, Status.skipped, f"not written: {need.what} did not apply ({why}); {need.rule}")


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
    PermissionValidator; the loop and `mlcp apply` pass `settling.decided`. It has no default: a caller
    that applies without a check says so by passing `unchecked`, so no new caller skips authorization by
    leaving the argument out. An error from `audit` (or from recording creates ahead) stops apply where it
    is: before the first write, or, when a chunk of intents or outcomes cannot be appended (which happens
    while writes are in flight, so the API server is never idle while the log is written), with the writes
    already sent: no further write starts, and the intents of the writes in flight stay open for the next
    turn to close. `unplanned`: inventoried objects the
    plan did not look at (a loop pass that planned only some tenants), kept in the inventory as they are.
    """
    report = ApplyReport()
    pending = [c for c in plan.changes if c.action is not Action.noop]
    by_ref = {c.ref: c for c in pending}
    finished: dict[ObjectRef, Outcome] = {}
    """Outcomes by object, for the writes that may only follow one that worked (apply_order.prerequisite): each
    is in a later gate than the one it follows, so that one's outcome is here when it starts."""

    def run(change: Change) -> Outcome:
        outcome = _unmet(change, by_ref, finished)
        if outcome is None:
            denial = authorize(change)
            outcome = (
                Outcome(change, Status.skipped, denial)
                if denial
                else backends[change.ref.system].apply(change, options)
            )
        finished[change.ref] = outcome
        return outcome

    for change in pending:
        if change.blocked:
            report.outcomes.append(_skipped(change))
            finished[change.ref] = report.outcomes[-1]
            if progress:
                progress(report.outcomes[-1])
    runnable = [c for c in pending if not c.blocked and c.ref.system in backends]
    order = schedule(runnable, {name: b.order for name, b in backends.items()})
    ahead = applyrecords.Ahead(plan, backends, order.changes, options, unplanned)
    if audit is not None:  # the first chunk's intents, with the records of what will not be written
        audit.intend(order.changes[:FIRST_CHUNK], list(report.outcomes))
    ahead.first(FIRST_CHUNK)
    written = writeloop.Writes(order, run, audit, ahead.through, concurrency, progress)
    written.run()
    report.outcomes += [o for o in written.outcomes if o is not None]
    applyrecords.record_inventories(plan, backends, report.outcomes, options, unplanned)
    return report
