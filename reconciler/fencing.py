"""Fenced writes: every single write of the loop first asks whether it may still happen.

Two things can revoke that right in the middle of a pass: the replica lost
its Lease (another may be writing soon — see reconciler.leader), or SIGTERM
asked it to stop. The check sits in a thin wrapper around each backend, so it
covers object writes *and* the inventory write that apply does last, without
apply itself knowing about leases. A change refused this way was never
attempted: it is reported as skipped with `NOT_ATTEMPTED`, and the next pass
(or leader) picks it up, because the loop is level-triggered.

Starting in time is not enough: a change is several requests, each with its
timeouts and retries. So the wrapper also bounds every request the change
makes (backends.deadline) by the lease's remaining time: none starts after it,
none waits past it. A change cut short that way fails with the reason, is
audited like any attempted change while the Lease is held (below), and is
picked up by the next leader.

An audit append is a write too (`FencedStore`). One chain has one writer at a
time only because its writer holds a Lease for the whole turn (intents,
writes, outcomes). Each append is a compare-and-set (reconciler.auditstore),
so a writer that lost its Lease never forks the chain, but its late appends
landed after the next holder's records: outcomes of intents that holder had
already closed as interrupted, and, between two runs of that holder's intents,
records that hid the earlier run from the search for open intents (which reads
back only the newest run, controlplane.audit.journal), so the writes of a holder
that died then stayed open for good. So an append starts only while the Lease
is held (shutting down does not stop it: outcomes of writes made are recorded)
and its requests end within the Lease's time; refused, it stops the turn as if
this process had died after its writes, and the next holder closes its intents
as interrupted, saying what the live state shows. That is no failure of the
log (`Unheld`): readiness and the audit metrics do not count it.

A write that starts with a fraction of a second left is cut short by a
server that answers in a second (a tenant's Namespace create timing out
failed the whole tenant until its next pass). So with a `window`, a write
waits (a few seconds at most) for a renewal that leaves it that much time;
if none comes it is not attempted, and the next pass picks it up. Waiting only
delays the start: no request ever runs past the lease's time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from controlplane.audit import AuditError, AuditRecord, AuditStore, Head, Verification
from controlplane.loading.repo import ConfigRepo
from controlplane.plans import Change, ObjectRef
from reconciler import logs
from reconciler.backends.base import NOT_ATTEMPTED as NOT_ATTEMPTED  # noqa: PLC0414 - re-exported
from reconciler.backends.base import ApplyOptions, Backend, LiveState, Outcome, Status, Watching
from reconciler.backends.base import was_attempted as was_attempted  # noqa: PLC0414 - re-exported
from reconciler.backends.deadline import Remaining, bounded
from reconciler.impersonation import Allowed
from reconciler.trust import TrustedBase


@dataclass
class Fence:
    """Whether this replica may write now."""

    leading: Callable[[], bool] = lambda: True
    stopping: threading.Event = field(default_factory=threading.Event)
    remaining: Remaining = lambda: None
    """Seconds this replica may still write (LeaderElector.remaining); None: no lease, no limit."""
    window: float = 0.0
    """Seconds of lease a write needs to start (0: any time left will do)."""
    patience: float = 0.0
    """How long a write waits for a renewal that leaves it `window`, before it is not attempted."""
    clock: Callable[[], float] = time.monotonic

    def refusal(self) -> str | None:
        """Why a new write must not start, or None."""
        if self.stopping.is_set():
            return "the controller is shutting down"
        if not self.leading():
            return "this replica does not hold the lease"
        return None

    def ready(self) -> str | None:
        """`refusal`, after waiting up to `patience` for the lease to leave a write its `window`."""
        until = self.clock() + self.patience
        while True:
            refusal = self.refusal()
            left = self.remaining()
            if refusal or left is None or left >= self.window:
                return refusal
            if self.clock() >= until:
                return f"the lease leaves {left:.2f}s, less than the {self.window:.1f}s a write needs (renewals late)"
            self.stopping.wait(min(0.1, self.window))


class FencedBackend(Backend):
    """A backend whose writes pass the fence; everything else goes straight through."""

    def __init__(self, inner: Backend, fence: Fence) -> None:
        self.inner = inner
        self.fence = fence

    @property
    def system(self) -> str:
        return self.inner.system

    @property
    def order(self) -> int:
        return self.inner.order

    @property
    def partial_inventory(self) -> bool:
        return self.inner.partial_inventory

    @property
    def target(self) -> str:
        return self.inner.target

    @property
    def notes(self) -> tuple[str, ...]:
        return self.inner.notes

    @property
    def keeps_applied_revision(self) -> bool:
        return self.inner.keeps_applied_revision

    @property
    def record_problems(self) -> tuple[str, ...]:
        return self.inner.record_problems

    @property
    def plan_meta(self) -> Mapping[str, Any]:
        return self.inner.plan_meta

    @property
    def requests(self) -> int | None:
        return self.inner.requests

    def confine(self, repo: ConfigRepo) -> None:
        self.inner.confine(repo)

    def forget(self) -> None:
        self.inner.forget()

    def forget_records(self) -> None:
        self.inner.forget_records()

    def watch(self) -> Watching | None:
        return self.inner.watch()

    def changed(self) -> frozenset[ObjectRef] | None:
        return self.inner.changed()

    def read(self) -> LiveState:
        return self.inner.read()

    def review(self, changes: Sequence[Change]) -> list[Change]:
        return self.inner.review(changes)

    def judge_by(self, base: TrustedBase) -> None:
        self.inner.judge_by(base)

    def entrust(self, allowed: Allowed) -> None:
        self.inner.entrust(allowed)

    def refusal(self, change: Change) -> str | None:
        return self.inner.refusal(change)

    def current_version(self, ref: ObjectRef) -> str | None:
        return self.inner.current_version(ref)

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        refusal = self.fence.ready()
        if refusal:
            return Outcome(change, Status.skipped, NOT_ATTEMPTED + refusal)
        with bounded(self.inner, self.fence.remaining):
            return self.inner.apply(change, options)

    def record_inventory(self, refs: frozenset[ObjectRef], options: ApplyOptions) -> None:
        """The inventory is written on shutdown too (it records what was done), but never without the lease."""
        if not self.fence.leading():
            logs.get().warning("inventory not written: this replica does not hold the lease")
            return
        with bounded(self.inner, self.fence.remaining):
            self.inner.record_inventory(refs, options)


class Unheld(AuditError):
    """An append refused or cut short because this process no longer holds the chain's Lease: no failure of the
    log (see the module docstring)."""


class FencedStore:
    """An audit store whose appends pass the fence (see the module docstring); reading goes straight through."""

    def __init__(self, inner: AuditStore, fence: Fence) -> None:
        self.inner = inner
        self.fence = fence

    @property
    def location(self) -> str:
        return self.inner.location

    def exclusive(self) -> AbstractContextManager[None]:
        return self.inner.exclusive()

    def append(self, record: AuditRecord) -> AuditRecord:
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        hint = "the next holder closes this turn's intents as interrupted, from what the live state shows"
        if not self.fence.leading():
            raise Unheld(f"{self.location}: not appended: this writer no longer holds the Lease", hint)
        try:
            with bounded(self.inner, self.fence.remaining):
                return self.inner.append_many(records)
        except AuditError as exc:
            if self.fence.leading():
                raise
            raise Unheld(f"{self.location}: cut short as this writer's Lease ended: {exc}", hint) from None

    def tail(self) -> Iterator[AuditRecord]:
        return self.inner.tail()

    def records(self) -> Iterator[AuditRecord]:
        return self.inner.records()

    def get(self, seq: int) -> AuditRecord | None:
        return self.inner.get(seq)

    def head(self) -> Head | None:
        return self.inner.head()

    def raw_lines(self) -> Iterator[bytes]:
        return self.inner.raw_lines()

    def verify(self, anchor: Head | None = None) -> Verification:
        return self.inner.verify(anchor)
