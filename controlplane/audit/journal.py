"""A writer's turn in the audit log: an intent before every write, an outcome after it.

Records written only after the writes leave a gap: a writer that dies (or
whose log fails) in between has changed live state with no record, and the
next pass sees no-ops and never records them. So a turn goes:

1. `reconcile`: check the log against its last published anchor (a truncated
   or rewritten log stops the turn), and close every intent an earlier turn
   left open with a record of result `interrupted` that says what the live
   state, just read for this plan, shows now;
2. `intend`: an intent (`result: pending`) for each change about to be
   written, before its write, as one run of appends: the first, before the
   first write, with the records of the changes that write nothing (denied,
   blocked) — so a log that cannot be written stops the turn before anything
   is applied — and the next ones while the first writes are in flight;
3. `record`: after the last intents, in chunks, the outcomes of the writes
   that finished, each naming its intent (`intent: SEQ`) and leaving the diff
   to it.

Turns never overlap (the writer holds the log for the whole turn: the file's
lock, or the Lease for the cluster store), and every turn closes what it
finds open before it writes intents of its own, and no outcome is appended
between two appends of a turn's intents. So only the newest batch of intents
(one contiguous run) can hold open ones, and finding them reads the log
backwards only to the start of that batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from controlplane.audit.chain import Head
from controlplane.audit.outcomes import OutcomeLike, record_for
from controlplane.audit.records import AuditError, AuditRecord, Result, digest, utc_now
from controlplane.audit.store import AuditStore
from controlplane.plans import Action, Change, Plan


def open_intents(tail: Iterable[AuditRecord]) -> list[AuditRecord]:
    """Intents with no outcome yet, oldest first, from records read newest first (see the module docstring)."""
    closed: set[int] = set()
    found: list[AuditRecord] = []
    in_batch = False
    for record in tail:
        if record.is_intent:
            in_batch = True
            if record.seq not in closed:
                found.append(record)
        elif in_batch:
            break
        elif record.intent is not None:
            closed.add(record.intent)
    return found[::-1]


def check_anchor(tail: Iterable[AuditRecord], anchor: Head) -> None:
    """Raise AuditError unless the log still holds the anchored record with the anchored hash."""
    for record in tail:
        if record.seq > anchor.seq:
            continue
        if record.seq == anchor.seq and record.hash == anchor.hash:
            return
        if record.seq == anchor.seq:
            raise AuditError(
                f"the audit log's record {anchor.seq} does not match the published anchor: the log was rewritten",
                "restore the log from a copy, or inspect it with `mlcp audit verify --anchor cluster`",
            )
        break
    raise AuditError(
        f"the audit log ends before record {anchor.seq}, which the published anchor names: records were removed",
        "restore the log from a copy, or inspect it with `mlcp audit verify --anchor cluster`",
    )


def _observed(intent: AuditRecord, plan: Plan) -> str:
    """What the live state (as this plan read it) says about an interrupted write."""
    same = [c for c in plan.changes if c.ref.to_dict() == intent.target]
    if not same:
        if intent.action == Action.delete.value:
            return "the object is gone and no longer planned: the delete took effect"
        return "the object is no longer part of the desired state"
    change = same[0]
    if change.action is Action.noop:
        if intent.after is not None and intent.after == digest(change.desired):
            return "the live object matches what it was to write: the write took effect"
        return "the live object matches the desired state of this revision"
    return f"the live object still differs ({change.action.value} planned again): this turn writes it again"


class Journal:
    """The records of one turn; every append is one durable run in `store` (see the module docstring)."""

    def __init__(
        self,
        store: AuditStore,
        plan: Plan,
        *,
        actors: Sequence[str],
        signer: str | None = None,
        fresh: Callable[[OutcomeLike], bool] = lambda _o: True,
        before_append: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.plan = plan
        self.actors = tuple(actors)
        self.signer = signer
        self.fresh = fresh
        """Whether a record of a change that wrote nothing is worth writing (the loop records a denial once)."""
        self.appended = 0
        self.head: Head | None = None
        """The last record this turn appended."""
        self.writing = False
        """True once intents are durable: from then on, writes may have happened."""
        self._intents: dict[int, tuple[int, str | None]] = {}
        """id(change) → the seq of its open intent, and the digest of what it is writing."""
        self._before_append = before_append
        """Called once, before the turn's first append (the loop's check of the log, when it deferred it: a turn
        that appends nothing then reads nothing)."""

    @property
    def unclosed(self) -> int:
        """Intents of this turn still without an outcome (a turn cut short leaves some for the next one)."""
        return len(self._intents)

    def _append(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        if not records:
            return []
        before, self._before_append = self._before_append, None
        if before is not None:
            before()
        sealed = self.store.append_many(records)
        self.appended += len(sealed)
        self.head = Head(sealed[-1].seq, sealed[-1].hash)
        return sealed

    def _record(self, outcome: OutcomeLike, time: str, opened: tuple[int, str | None] | None = None) -> AuditRecord:
        """The record of `outcome`; with `opened` (its intent's seq and digest), the outcome closing that intent."""
        intent, desired_digest = opened if opened is not None else (None, None)
        return record_for(
            outcome,
            actors=self.actors,
            commit=self.plan.revision,
            signer=self.signer,
            time=time,
            intent=intent,
            desired_digest=desired_digest,
            signed=self.plan.verified_identities,
        )

    def reconcile(self, anchor: Head | None = None) -> list[AuditRecord]:
        """Check the log against `anchor`; close the intents an earlier turn left open. Returns the closings."""
        if anchor is not None:
            check_anchor(self.store.tail(), anchor)
        time = utc_now()
        closings = [
            replace(
                intent,
                time=time,
                result=Result.interrupted,
                error="no outcome was recorded (the writer stopped between the write and its record); "
                + _observed(intent, self.plan),
                before=None,
                after=None,
                diff=(),
                intent=intent.seq,
                seq=0,
                prev="",
                hash="",
            )
            for intent in open_intents(self.store.tail())
        ]
        return self._append(closings)

    def note(self, finished: Iterable[OutcomeLike]) -> None:
        """Record changes that wrote nothing (refusals, tenants set aside), each once."""
        time = utc_now()
        self._append([self._record(o, time) for o in finished if self.fresh(o)])

    def intend(self, changes: Sequence[Change], finished: Sequence[OutcomeLike]) -> None:
        """Before the first write: the records of `finished` changes and an intent for each of `changes`."""
        time = utc_now()
        done = [self._record(o, time) for o in finished if self.fresh(o)]
        intents = [self._intent(c, time) for c in changes]
        sealed = self._append([*done, *intents])
        for change, record in zip(changes, sealed[len(done) :], strict=True):
            self._intents[id(change)] = (record.seq, record.after)
        self.writing = self.writing or bool(changes)

    def _intent(self, change: Change, time: str) -> AuditRecord:
        return record_for(
            _Intended(change),
            actors=self.actors,
            commit=self.plan.revision,
            signer=self.signer,
            time=time,
            result=Result.pending,
            signed=self.plan.verified_identities,
        )

    def record(self, outcomes: Sequence[OutcomeLike]) -> None:
        """After writes: their outcomes, each naming its intent."""
        time = utc_now()
        self._append([self._record(o, time, self._intents.pop(id(o.change), None)) for o in outcomes])


class _Intended:
    """A change about to be written, in the shape `record_for` takes (its result is replaced by `pending`)."""

    def __init__(self, change: Change) -> None:
        self.change = change
        self.status = Result.unchanged.value
        self.message = ""
