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

import heapq
import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from controlplane.planning import Claim, InventoryRecord
from controlplane.plans import Action, Change, ObjectRef, Plan
from reconciler.apply_order import Gates, Schedule, lane, prerequisite, schedule
from reconciler.backends.base import NOT_ATTEMPTED, ApplyOptions, Backend, LiveState, Outcome, Status, was_attempted

FIRST_CHUNK = 32
"""Intents written before the first write: a few, so the API server gets work at once."""
CHUNK = 256
"""Intents (and outcomes) appended at a time while writes are in flight; the chunks of intents grow from
FIRST_CHUNK to this."""

Progress = Callable[[Outcome], None]
Authorize = Callable[[Change], str | None]
"""Whether one change may be written now: a denial reason, or None."""


def unchecked(change: Change) -> str | None:
    """No check at apply (the plan's own blocks still hold): for tools and tests that apply a plan they built."""
    return None


class Journal(Protocol):
    """Where apply records what it is about to do and what it did (controlplane.audit.Journal)."""

    def intend(self, changes: Sequence[Change], finished: Sequence[Outcome]) -> None:
        """Before their writes: changes to be written (in chunks, in write order), and (with the first chunk)
        the outcomes of those that will not be."""
        ...

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """After writes: their outcomes (in chunks, in the order they finished)."""
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
    ahead = _Ahead(plan, backends, order.changes, options, unplanned)
    if audit is not None:  # the first chunk's intents, with the records of what will not be written
        audit.intend(order.changes[:FIRST_CHUNK], list(report.outcomes))
    ahead.first(FIRST_CHUNK)
    written = _Writes(order, run, audit, ahead, concurrency, progress)
    written.run()
    report.outcomes += [o for o in written.outcomes if o is not None]
    _record_inventories(plan, backends, report, options, unplanned)
    return report


class _Ahead:
    """The objects about to be created, recorded in the inventory before their creates are sent.

    Before the first write: the first chunk's creates and every create that is not in a namespace lane
    (reconciler.apply_order: MLflow's objects, cluster-wide ones). Then, while writes are in flight, ever
    larger runs of the lanes' creates (each record is a write of the whole inventory, so a few of them, not
    one per chunk). A record made while writes are in flight is therefore only ever of namespaced objects, in
    the backend of the cluster, which keeps its inventory apart from its writes. The applied revision is not
    advanced."""

    def __init__(
        self,
        plan: Plan,
        backends: Mapping[str, Backend],
        changes: Sequence[Change],
        options: ApplyOptions,
        unplanned: Mapping[str, frozenset[ObjectRef]] | None,
    ) -> None:
        self.backends, self.changes, self.options = backends, changes, options
        self.recorded = 0
        """How many of `changes` (in order) are covered: every create among them is in the inventory."""
        self._refs: dict[str, tuple[frozenset[ObjectRef], frozenset[ObjectRef] | None]] = {}
        for system, backend in backends.items():
            planned = frozenset(c.ref for c in plan.changes if c.ref.system == system)
            self._refs[system] = _inventory_refs(backend, system, planned, planned, unplanned)

    def first(self, end: int) -> None:
        """Before the first write: the creates among the first `end` changes, and every create of no lane."""
        upto = min(len(self.changes), end)
        self._record([c for i, c in enumerate(self.changes) if i < upto or lane(c) is None])
        self.recorded = upto

    def through(self, end: int) -> None:
        """Make sure every create among the first `end` changes is recorded (and, if that takes a write, a
        run of the next ones: sixteen times as many as are recorded so far)."""
        if end <= self.recorded:
            return
        upto = min(len(self.changes), max(end, 16 * self.recorded))
        self._record([c for c in self.changes[self.recorded : upto] if lane(c) is not None])
        self.recorded = upto

    def _record(self, changes: Sequence[Change]) -> None:
        for system, backend in self.backends.items():
            creates = {
                c.ref: Claim(InventoryRecord.of(c), wrote=True)
                for c in changes
                if c.ref.system == system and c.action is Action.create
            }
            if creates:
                refs, only = self._refs[system]
                backend.record_inventory(refs, replace(self.options, revision=None, claims=creates, only=only))


class _Writes:
    """The write loop. Writer threads take the next change whose gate is open and whose intent (and, for a
    create, its inventory record) is durable, write it, and open the gates it closes, at most `concurrency` at
    once: they never wait for this thread. This thread (the one holding the audit log's turn) writes the
    intents in chunks (and records creates ahead) while the first writes are in flight, then appends the
    outcomes in chunks. The first error of the audit log or of a record ahead stops it: no write starts after
    it, those in flight finish (their intents stay open for the next turn to close), and the error is raised."""

    def __init__(
        self,
        order: Schedule,
        run: Callable[[Change], Outcome],
        audit: Journal | None,
        ahead: _Ahead,
        concurrency: int,
        progress: Progress | None,
    ) -> None:
        self.order, self.write, self.audit, self.ahead, self.progress = order, run, audit, ahead, progress
        self.concurrency = max(1, concurrency)
        self.gates = Gates(order)
        self.outcomes: list[Outcome | None] = [None] * len(order.changes)
        self.intended = min(FIRST_CHUNK, len(order.changes))
        """Changes (in order) whose intents (and records ahead) are durable: they may be written."""
        self.lock = threading.Lock()
        self.ready: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        """Changes whose gate is open and whose intent is written (None: a writer's signal to stop)."""
        self.waiting: list[int] = []
        """A heap of the changes whose gate is open but whose intent is not written yet."""
        self.done: queue.SimpleQueue[tuple[int, Outcome | BaseException]] = queue.SimpleQueue()
        self.stopped = False
        for i in self.gates.ready:
            self._opened(i)

    def _opened(self, index: int) -> None:
        """(With the lock held.)"""
        if index < self.intended:
            self.ready.put(index)
        else:
            heapq.heappush(self.waiting, index)

    def _writer(self) -> None:
        while True:
            index = self.ready.get()
            if index is None or self.stopped:
                return
            try:
                outcome: Outcome | BaseException = self.write(self.order.changes[index])
            except BaseException as exc:  # handed to the loop, which stops and raises it
                outcome = exc
            if isinstance(outcome, Outcome):
                with self.lock:
                    for opened in self.gates.done(index):
                        self._opened(opened)
            self.done.put((index, outcome))

    def run(self) -> None:
        total = len(self.outcomes)
        writers = [threading.Thread(target=self._writer, daemon=True) for _ in range(min(self.concurrency, total))]
        for writer in writers:
            writer.start()
        try:
            self._log_while_writing(total)
        except BaseException:
            self.stopped = True  # no write starts after this; those in flight finish (their intents are open)
            raise
        finally:
            for _ in writers:
                self.ready.put(None)
            for writer in writers:
                writer.join()

    def _log_while_writing(self, total: int) -> None:
        unrecorded: list[Outcome] = []
        finished = 0
        chunk = FIRST_CHUNK
        while finished < total:
            if self.intended < total:  # the next chunk of intents while the first writes are in flight
                chunk = min(chunk * 2, CHUNK)
                end = min(self.intended + chunk, total)
                if self.audit is not None:
                    self.audit.intend(self.order.changes[self.intended : end], [])
                self.ahead.through(end)
                with self.lock:
                    self.intended = end
                    while self.waiting and self.waiting[0] < end:
                        self.ready.put(heapq.heappop(self.waiting))
            elif self.audit is not None and len(unrecorded) >= CHUNK:  # after the last intents: one run of them
                self.audit.record(unrecorded)
                unrecorded = []
            else:
                self._take(self.done.get(), unrecorded)
                finished += 1
            while not self.done.empty():
                self._take(self.done.get(), unrecorded)
                finished += 1
        if self.audit is not None and unrecorded:
            self.audit.record(unrecorded)

    def _take(self, item: tuple[int, Outcome | BaseException], unrecorded: list[Outcome]) -> None:
        index, outcome = item
        if isinstance(outcome, BaseException):
            raise outcome
        self.outcomes[index] = outcome
        unrecorded.append(outcome)
        if self.progress:
            self.progress(outcome)


def unread_systems(plan: Plan, backends: Iterable[str]) -> frozenset[str]:
    """Of `backends`, the systems whose live state this plan was not made from: reported unreachable, or not
    connected when it was planned. No inventory is recorded for them: they planned nothing, and recording what the
    plan holds of one (nothing) would drop every record of it (a registry that did not answer while planning, back
    by the end of the apply). A plan that states no systems (one built by hand) was made from all of them."""
    if not plan.systems:
        return frozenset()
    read = {s.system for s in plan.systems if s.reachable}
    return frozenset(system for system in backends if system not in read)


def _record_inventories(
    plan: Plan,
    backends: Mapping[str, Backend],
    report: ApplyReport,
    options: ApplyOptions,
    unplanned: Mapping[str, frozenset[ObjectRef]] | None,
) -> None:
    """Inventory = what exists because of mlcp: desired objects present, plus deletes not done.

    Claims (attribution) come from the changes that were written, and from no-ops of objects that exist;
    a blocked change claims nothing. Two changes of one object (two tenants declaring one namespace)
    never both claim it: a write wins over a no-op, and two differing no-ops leave the old record.
    """
    results = {id(o.change): o.status for o in report.outcomes}
    unanswered = {id(o.change) for o in report.outcomes if o.uncertain and o.change.action is Action.create}
    unread = unread_systems(plan, backends)
    for system, backend in backends.items():
        if system in unread:
            continue  # its live state was not read for this plan: it planned nothing, so its records stay as they are
        refs: set[ObjectRef] = set()  # with the objects the plan left alone (`unplanned`) below: no copy of them
        planned: set[ObjectRef] = set()
        claims: dict[ObjectRef, Claim] = {}
        conflicting: set[ObjectRef] = set()
        for change in plan.changes:
            if change.ref.system != system:
                continue
            planned.add(change.ref)
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
        written, only = _inventory_refs(backend, system, frozenset(refs), frozenset(planned), unplanned)
        backend.record_inventory(written, replace(options, claims=claims, only=only))


def _inventory_refs(
    backend: Backend,
    system: str,
    refs: frozenset[ObjectRef],
    planned: frozenset[ObjectRef],
    unplanned: Mapping[str, frozenset[ObjectRef]] | None,
) -> tuple[frozenset[ObjectRef], frozenset[ObjectRef] | None]:
    """What `record_inventory` is handed: `refs` (those of the `planned` objects that may be mlcp's) and
    `ApplyOptions.only`. A pass that planned everything (`unplanned` None or empty): `refs` alone. One that
    planned a few tenants: to a backend that keeps what it was not shown (`partial_inventory`), `refs` and
    `only` the planned objects, so nothing copies the inventory's other objects; to any other, `refs` with every
    unplanned object."""
    if not unplanned:
        return refs, None
    if backend.partial_inventory:
        return refs, planned
    return refs | unplanned.get(system, frozenset()), None


def _claim(change: Change, status: Status | None) -> Claim | None:
    if change.blocked:
        return None
    if status is Status.applied:
        return Claim(InventoryRecord.of(change), wrote=True)
    if change.action is Action.noop and change.live_version is not None:
        return Claim(InventoryRecord.of(change), wrote=False)
    return None
