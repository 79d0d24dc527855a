"""The loop's audit turn: anchors published and checked, open intents closed, a stable repo costs one head read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controlplane.audit import AuditError, Journal, JsonlStore, Result
from controlplane.errors import Refused
from controlplane.plans import Action, Change, ObjectRef, Plan
from reconciler import anchors
from reconciler.backends.base import Outcome, Status
from reconciler.fencing import Fence, FencedStore, Unheld
from reconciler.metrics import Metrics
from reconciler.passaudit import DENIALS_KEPT, PassAudit

DESIRED = {"apiVersion": "v1", "kind": "ResourceQuota", "spec": {"hard": {"cpu": "8"}}}
CHANGE = Change(
    ObjectRef("kubernetes", "v1", "ResourceQuota", "nlp", "q"), Action.update, "", "Quota/nlp/q", "nlp", None, 30,
    desired=DESIRED,
)  # fmt: skip
PLAN = Plan(changes=(CHANGE,), revision="a" * 40)


class FakeKube:
    """The anchor ConfigMap in memory."""

    controller_namespace = "mlcp-system"

    def __init__(self) -> None:
        self.anchor: dict[str, Any] | None = None

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        return self.anchor

    def request(self, method: str, path: str, query: Any = None, body: Any = None, *_: Any) -> dict[str, Any]:
        assert method == "PATCH" and path.endswith(anchors.NAME)
        self.anchor = body
        return dict(body)


def _pass(audit: PassAudit, kube: FakeKube, tmp_path: Path, write: bool = True) -> None:
    journal = audit.begin(PLAN, tmp_path, kube)  # type: ignore[arg-type]
    if write:
        journal.intend([CHANGE], [])
        journal.record([Outcome(CHANGE, Status.applied)])
    audit.finish(kube, leading=True)  # type: ignore[arg-type]


def test_the_leader_publishes_each_new_head_and_a_stable_repo_never_scans_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = JsonlStore(tmp_path / "audit.jsonl")
    kube, audit = FakeKube(), PassAudit(store, Metrics(), "replica-1")
    _pass(audit, kube, tmp_path)
    assert kube.anchor is not None and kube.anchor["data"]["anchor"] == str(store.head())
    assert kube.anchor["data"]["log"] == store.location and kube.anchor["data"]["writer"] == "replica-1"

    def no_scan() -> None:
        raise AssertionError("a pass on an unchanged log read back through it")

    monkeypatch.setattr(store, "tail", no_scan)
    _pass(audit, kube, tmp_path, write=False)
    _pass(audit, kube, tmp_path, write=False)


def test_a_new_term_reads_the_log_back_only_when_the_anchor_does_not_say_its_turn_closed_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restarted controller at 10,000 tenants would read back 180,000 records of the first apply."""
    store = JsonlStore(tmp_path / "audit.jsonl")
    kube = FakeKube()
    _pass(PassAudit(store, Metrics(), "replica-1"), kube, tmp_path)
    assert kube.anchor is not None and kube.anchor["data"]["closed"] == "true", "every intent got its outcome"
    scans: list[int] = []
    tail = store.tail

    def counted() -> Any:
        scans.append(1)
        return tail()

    monkeypatch.setattr(store, "tail", counted)
    _pass(PassAudit(store, Metrics(), "replica-2"), kube, tmp_path, write=False)
    assert not scans, "the successor trusted the anchor: the log still ends where it says, all closed"

    journal = PassAudit(store, Metrics(), "replica-3").begin(PLAN, tmp_path, kube)  # type: ignore[arg-type]
    journal.intend([CHANGE], [])  # and the writer stops here: an intent without its outcome, no anchor
    successor = PassAudit(store, Metrics(), "replica-4")
    _pass(successor, kube, tmp_path, write=False)
    assert scans, "the log moved past the anchor: read back"
    assert [r.result for r in store.records()][-2:] == [Result.pending, Result.interrupted], "and closed"
    del kube.anchor["data"]["closed"]  # an anchor of an older mlcp, or of `mlcp apply`: unknown
    scans.clear()
    _pass(PassAudit(store, Metrics(), "replica-5"), kube, tmp_path, write=False)
    assert scans, "without the flag the successor reads back"


def test_a_cut_off_log_fails_the_next_pass_loudly_and_readiness_shows_it(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    store = JsonlStore(path)
    kube, metrics = FakeKube(), Metrics()
    _pass(PassAudit(store, metrics, "replica-1"), kube, tmp_path)
    path.write_bytes(path.read_bytes().splitlines(keepends=True)[0])  # the outcome cut off

    successor = PassAudit(store, metrics, "replica-2")  # a new leader reads the anchor from the cluster
    with pytest.raises(AuditError, match="records were removed") as caught:
        successor.begin(PLAN, tmp_path, kube)  # type: ignore[arg-type]
    message = successor.failed(caught.value)
    assert "nothing was applied" in message and successor.problem
    assert metrics.audit_writable._value.get() == 0 and metrics.audit_failures._value.get() == 1
    assert [r.result for r in store.records()] == [Result.pending], "nothing appended after the damage"


def test_a_published_anchor_with_a_malformed_seq_fails_the_pass_at_stage_audit_not_the_loop(
    tmp_path: Path,
) -> None:
    """Whoever can write the controller namespace writes `anchor: "²:…"`: a ValueError killed the pass's thread."""
    store, kube = JsonlStore(tmp_path / "audit.jsonl"), FakeKube()
    kube.anchor = {"data": {"anchor": "\u00b2:" + "a" * 64, "log": store.location}}
    audit = PassAudit(store, Metrics(), "replica-1")
    with pytest.raises(AuditError, match="is not an anchor") as caught:
        audit.begin(PLAN, tmp_path, kube)  # type: ignore[arg-type]
    assert "nothing was applied" in audit.failed(caught.value)


class _CountedStore(JsonlStore):
    """A file log that counts its reads of the head and tail (with the cluster log each is requests)."""

    reads = 0

    def head(self) -> Any:
        self.reads += 1
        return super().head()

    def tail(self) -> Any:
        self.reads += 1
        return super().tail()


def test_a_pass_that_records_nothing_reads_nothing_unless_it_is_full(tmp_path: Path) -> None:
    store = _CountedStore(tmp_path / "audit.jsonl")
    kube, audit = FakeKube(), PassAudit(store, Metrics(), "replica-1")
    _pass(audit, kube, tmp_path)  # the term's first turn checks, writes and leaves the log clean
    store.reads = 0
    for _ in range(3):
        audit.begin(PLAN, tmp_path, kube, check=False)  # type: ignore[arg-type]
        audit.finish(kube, leading=True)  # type: ignore[arg-type]
    assert store.reads == 0, "quiet incremental passes read nothing from the log"
    audit.begin(PLAN, tmp_path, kube, check=True)  # type: ignore[arg-type]
    audit.finish(kube, leading=True)  # type: ignore[arg-type]
    assert store.reads == 1, "a full pass (start, term, resync) reads the head even when it records nothing"
    store.reads = 0
    journal = audit.begin(PLAN, tmp_path, kube, check=False)  # type: ignore[arg-type]
    journal.intend([CHANGE], [])
    journal.record([Outcome(CHANGE, Status.applied)])
    audit.finish(kube, leading=True)  # type: ignore[arg-type]
    assert [r.result for r in store.records()][-2:] == [Result.pending, Result.applied]
    assert kube.anchor is not None and kube.anchor["data"]["anchor"] == str(store.head()), "the new head published"


def test_a_log_cut_off_while_passes_were_quiet_stops_the_next_pass_before_its_first_record(tmp_path: Path) -> None:
    """The attacker truncates the log between two passes that had nothing to record: the deferred check still
    runs before anything is appended (so before any write), and a full pass finds it with nothing to record."""
    path = tmp_path / "audit.jsonl"
    store = JsonlStore(path)
    kube, audit = FakeKube(), PassAudit(store, Metrics(), "replica-1")
    _pass(audit, kube, tmp_path)
    _pass(audit, kube, tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]))  # the last turn's records cut off

    audit.begin(PLAN, tmp_path, kube, check=False)  # type: ignore[arg-type]
    audit.finish(kube, leading=True)  # type: ignore[arg-type]
    journal = audit.begin(PLAN, tmp_path, kube, check=False)  # type: ignore[arg-type]
    with pytest.raises(AuditError, match="records were removed") as caught:
        journal.intend([CHANGE], [])
    assert "nothing was applied" in audit.failed(caught.value) and audit.problem
    assert path.read_bytes() == b"".join(lines[:2]), "nothing appended after the damage"
    with pytest.raises(AuditError, match="records were removed"):
        PassAudit(store, Metrics(), "replica-1").begin(PLAN, tmp_path, kube, check=True)  # type: ignore[arg-type]
    quiet = PassAudit(store, Metrics(), "replica-2")
    with pytest.raises(AuditError, match="records were removed"):
        quiet.begin(PLAN, tmp_path, kube, check=False)  # type: ignore[arg-type]  # a new term always checks


def test_intents_an_interrupted_writer_left_open_are_closed_before_a_deferred_turns_first_intent(
    tmp_path: Path,
) -> None:
    store = JsonlStore(tmp_path / "audit.jsonl")
    kube, audit = FakeKube(), PassAudit(store, Metrics(), "replica-1")
    _pass(audit, kube, tmp_path)
    # another writer's turn (an `mlcp apply`, under the Lease) stops after its intent:
    Journal(store, PLAN, actors=("alice@example.com",)).intend([CHANGE], [])
    journal = audit.begin(PLAN, tmp_path, kube, check=False)  # type: ignore[arg-type]
    journal.intend([CHANGE], [])
    journal.record([Outcome(CHANGE, Status.applied)])
    audit.finish(kube, leading=True)  # type: ignore[arg-type]
    results = [(r.result, r.intent) for r in store.records()]
    assert results[-4:] == [
        (Result.pending, None),
        (Result.interrupted, 3),
        (Result.pending, None),
        (Result.applied, 5),
    ]


def test_a_refusal_is_recorded_once_per_revision_and_only_the_last_revisions_are_remembered(tmp_path: Path) -> None:
    """Every revision's denials were remembered for the life of the process: a controller that sees a new commit
    every few minutes kept them all."""
    store = JsonlStore(tmp_path / "audit.jsonl")
    audit = PassAudit(store, Metrics(), "replica-1")
    refused = Refused("the repo names another cluster", "fix mlcp.yaml", "operator-targets", "mlcp.yaml")

    def recorded() -> int:
        return sum(1 for _ in store.records())

    audit.refused("0" * 40, refused)
    audit.refused("0" * 40, refused)
    assert recorded() == 1, "once per revision, not once per retry"
    for n in range(1, DENIALS_KEPT + 1):
        audit.refused(str(n) * 40, refused)
    assert recorded() == 1 + DENIALS_KEPT
    audit.refused(str(DENIALS_KEPT) * 40, refused)
    assert recorded() == 1 + DENIALS_KEPT, "the newest revisions are remembered"
    audit.refused("0" * 40, refused)
    assert recorded() == 2 + DENIALS_KEPT, "the oldest was forgotten: back on it, its refusal is recorded again"


def test_an_append_refused_because_the_lease_ended_fails_the_pass_but_is_no_failure_of_the_log(
    tmp_path: Path,
) -> None:
    """The next holder closes the turn's intents; readiness and the audit metrics must not say the log is broken
    (a standby that lost its Lease mid-pass stayed unready until it led again and appended)."""
    metrics = Metrics()
    audit = PassAudit(FencedStore(JsonlStore(tmp_path / "audit.jsonl"), Fence(leading=lambda: False)), metrics, "r1")
    with pytest.raises(Unheld) as caught:
        _pass(audit, FakeKube(), tmp_path)
    message = audit.failed(caught.value)
    assert "no longer holds the Lease" in message and audit.problem is None
    assert metrics.audit_failures._value.get() == 0
