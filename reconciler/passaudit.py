"""The loop's side of the audit log: one journal per pass, the anchor, and whether the log takes records.

Each pass is one turn (controlplane.audit.journal): it checks the log against
the anchor this term published or read (a cut-off or rewritten log stops the
pass before it writes), closes intents an interrupted pass left open, writes
each write's intent before it and the outcomes after, in chunks. The check
reads the log's head: a full pass (start, new term, resync) makes it first, so
a damaged log is found within a resync interval even while nothing changes;
any other pass makes it just before its first append, so a pass that records
nothing reads nothing (with the cluster log: four requests less per no-op
pass). Either way it comes before any record, and so before any write. A
log that cannot be written fails the pass loudly before anything is applied,
and stays visible (metric `mlcp_reconcile_audit_log_writable`, /readyz) until
an append succeeds again. After a pass that wrote records, the leader
publishes the new head as the anchor (reconciler.anchors).

A denial is recorded once per revision, not once per retry: the loop would
otherwise write the same refusal every pass until someone fixes the commit.
Only the denials of the last few revisions are remembered (`DENIALS_KEPT`):
the loop works on one revision at a time, the branch's head, and a set of
every revision's denials grew for the life of the process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from controlplane.audit import Anchor, AuditError, AuditStore, Head, Journal, records_for
from controlplane.audit.identity import head_identity
from controlplane.audit.outcomes import OutcomeLike
from controlplane.audit.records import utc_now
from controlplane.errors import Refused
from controlplane.plans import Plan
from reconciler import anchors, governance, logs
from reconciler.backends.base import BackendError, Status
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.fencing import Unheld
from reconciler.metrics import Metrics

DenialKey = tuple[str | None, str, str]
"""(revision, what was denied, why)."""
DENIALS_KEPT = 4
"""Revisions whose recorded denials are remembered (the newest; a branch reset back and forth is still covered)."""


class Denials:
    """The denials already recorded, by revision, for the last `DENIALS_KEPT` revisions only."""

    def __init__(self) -> None:
        self._by_revision: dict[str | None, set[tuple[str, str]]] = {}

    def __contains__(self, key: DenialKey) -> bool:
        return key[1:] in self._by_revision.get(key[0], ())

    def add(self, key: DenialKey) -> None:
        revision = key[0]
        recorded = self._by_revision.pop(revision, set())  # again the newest
        recorded.add(key[1:])
        self._by_revision[revision] = recorded
        while len(self._by_revision) > DENIALS_KEPT:
            del self._by_revision[next(iter(self._by_revision))]

    def discard(self, key: DenialKey) -> None:
        self._by_revision.get(key[0], set()).discard(key[1:])


class PassAudit:
    """The audit state the loop keeps between passes (see the module docstring)."""

    def __init__(self, store: AuditStore, metrics: Metrics, identity: str, chain: str = "") -> None:
        self.store = store
        self.chain = chain
        """Which chain's anchor this pass publishes and checks ("" the main one, `shard-<i>` a shard's)."""
        self.metrics = metrics
        self.identity = identity
        self.problem: str | None = None
        """Why the last append failed, until one succeeds again (readiness reports it)."""
        self.journal: Journal | None = None
        self._denials = Denials()
        self._new: set[DenialKey] = set()
        self._expected: Head | None = None
        """The anchor the next pass checks the log against: the last one published or read this term."""
        self._anchor_read = False
        self._published: Head | None = None
        self._closed = False
        """The anchor read this term says its turn closed every intent (see `Anchor.closed`)."""
        self._clean: Head | None = None
        """The head after a turn that left no intent open: while the log still ends there, there is nothing to
        close (a stable repo's passes then read only the head, never scan back through an old log)."""
        self._checked = False
        """Whether this turn has checked the log."""
        self._seen: Head | None = None
        """The head this turn's check read."""

    def forget(self) -> None:
        """A new term: read the anchor from the cluster again (another writer may have moved it)."""
        self._anchor_read = False
        self._expected = None
        self._closed = False
        self._clean = None

    def begin(self, plan: Plan, repo: Path, kube: KubeClient, check: bool = True) -> Journal:
        """The pass's journal; the log checked against the anchor and intents left open closed now (`check`: a
        full pass), or else just before the journal's first append (see the module docstring)."""
        identity = head_identity(repo)
        self._new = set()
        self._checked, self._seen = False, None
        journal = self.journal = Journal(
            self.store,
            plan,
            actors=identity.actors,
            signer=identity.signer,
            fresh=self._fresh(plan.revision),
            before_append=lambda: self._check(journal, kube),
        )
        if check or self._clean is None:  # no clean turn this term yet: check now, as a new term must
            self._check(journal, kube)
        return journal

    def _check(self, journal: Journal, kube: KubeClient) -> None:
        """Check the log against the anchor and close the intents an earlier turn left open (once a turn)."""
        if self._checked:
            return
        self._checked = True
        anchor = self._anchor(kube)
        head = self._seen = self.store.head()
        if self._clean is not None and head == self._clean:
            return
        if self._closed and anchor is not None and head == anchor:
            self._clean = anchor  # the last writer's turn closed every intent and nobody wrote since: no read-back
            return
        closed = journal.reconcile(anchor)
        if closed:
            logs.get().warning(
                "closed audit intents an interrupted writer left open",
                extra={"intents": [r.intent for r in closed], "results": "interrupted"},
            )

    def _anchor(self, kube: KubeClient) -> Head | None:
        if not self._anchor_read:
            published = anchors.read(kube, self.chain)
            self._anchor_read = True
            same_log = published is not None and published.log == self.store.location
            self._expected = published.head if published is not None and same_log else None
            self._closed = published is not None and same_log and published.closed
            self._published = self._expected
        return self._expected

    def _fresh(self, revision: str | None) -> Callable[[OutcomeLike], bool]:
        def fresh(outcome: OutcomeLike) -> bool:
            decision = outcome.change.decision
            if outcome.status != Status.skipped.value or decision is None or decision.allowed:
                return True
            key = (revision, str(outcome.change.ref), outcome.message)
            if key in self._denials:
                return False
            self._denials.add(key)
            self._new.add(key)
            return True

        return fresh

    def finish(self, kube: KubeClient, leading: bool) -> None:
        """After the pass: the log took every record; publish the new head while still leading."""
        journal, self.journal = self.journal, None
        if journal is not None and journal.head is not None:
            self._expected = journal.head
        if journal is not None and journal.appended:
            self._writable()
        if journal is not None and not journal.unclosed and (journal.head is not None or self._checked):
            self._clean = journal.head or self._seen  # a turn that neither read nor wrote the log leaves it as it was
        if self._expected is None or self._expected == self._published or not leading:
            return
        closed = self._clean == self._expected
        anchor = Anchor(self._expected, self.store.location, utc_now(), self.identity, closed)
        try:
            anchors.publish(kube, anchor, self.chain)
        except BackendError as exc:
            logs.get().warning("could not publish the audit anchor", extra={"error": str(exc)})
            return
        self._published = self._expected

    def failed(self, exc: AuditError) -> str:
        """The pass's error message; the metric and readiness show the problem until an append succeeds."""
        journal, self.journal = self.journal, None
        for key in self._new:  # not written: record them again next time
            self._denials.discard(key)
        self._clean = None
        if not isinstance(exc, Unheld):  # the Lease ended, not the log: the next holder closes this turn
            self.problem = str(exc)
            self.metrics.audit_writable.set(0)
            self.metrics.audit_failures.inc()
        done = "the writes already intended were stopped" if journal and journal.writing else "nothing was applied"
        hint = f" ({exc.hint})" if exc.hint else ""
        return f"audit log {self.store.location}: {exc}{hint}; {done}"

    def _writable(self) -> None:
        if self.problem is not None:
            logs.get().info("the audit log takes records again", extra={"auditLog": self.store.location})
        self.problem = None
        self.metrics.audit_writable.set(1)

    def refused(self, revision: str | None, exc: Refused) -> None:
        """Record a refused revision once (not once per retry); a failure to record it fails loudly in logs."""
        key = (revision, f"refused:{exc.rule}", exc.message)
        if key in self._denials:
            return
        outcome = governance.refusal(exc.rule, exc.message, exc.source)
        try:
            self.store.append_many(records_for(Plan((), revision=revision), [outcome], actors=()))
        except (AuditError, OSError) as error:
            self.failed(error if isinstance(error, AuditError) else AuditError(str(error)))
            logs.get().error("recording a refusal failed", extra={"error": str(error)})
            return
        self._writable()
        self._denials.add(key)
