"""A turn's records: intents before writes, outcomes after, open intents closed by the next turn, anchors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from controlplane.audit import AuditError, Head, Journal, JsonlStore, Result, digest, open_intents
from controlplane.audit.query import by_change
from controlplane.plans import Action, Change, Decision, ObjectRef, Plan, SpecKey
from reconciler.backends.base import Outcome, Status

DESIRED = {"apiVersion": "v1", "kind": "ResourceQuota", "spec": {"hard": {"cpu": "8"}}}


def _change(name: str, action: Action = Action.create, **extra: object) -> Change:
    ref = ObjectRef("kubernetes", "v1", "ResourceQuota", "nlp", name)
    return Change(ref, action, "test", SpecKey.parse(f"Quota/nlp/{name}"), "nlp", "tenants/nlp/q.yaml:1", 30, **extra)  # type: ignore[arg-type]


A = _change("a", desired=DESIRED)
B = _change("b", desired=DESIRED)
DENIED = _change("c", desired=DESIRED, decision=Decision(False, "rbac", "not yours"), blocked="not yours")
PLAN = Plan(changes=(A, B, DENIED), revision="f" * 40)


def _journal(store: JsonlStore, plan: Plan = PLAN) -> Journal:
    return Journal(store, plan, actors=["ci@example.com"])


def test_intents_are_durable_before_writes_and_outcomes_name_them(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "audit.jsonl")
    journal = _journal(store)
    journal.intend([A, B], [Outcome(DENIED, Status.skipped, "not yours")])
    logged = list(store.records())
    assert [r.result for r in logged] == [Result.denied, Result.pending, Result.pending]
    assert logged[1].after == digest(DESIRED) and logged[1].diff, "the intent says what it is about to write"
    assert [r.seq for r in open_intents(store.tail())] == [2, 3]
    journal.record([Outcome(A, Status.applied), Outcome(B, Status.failed, "quota exceeded")])
    outcomes = list(store.records())[3:]
    assert [(r.result, r.intent, r.diff) for r in outcomes] == [(Result.applied, 2, ()), (Result.failed, 3, ())]
    assert open_intents(store.tail()) == [] and store.verify().ok and journal.writing
    merged = list(by_change(store.records()))
    assert [(r.seq, r.result) for r in merged] == [(1, Result.denied), (4, Result.applied), (5, Result.failed)]
    assert merged[1].diff == logged[1].diff, "one line per change, with the intent's diff"


def test_each_manifest_is_hashed_once_per_turn_and_both_records_carry_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from controlplane.audit import outcomes

    hashed: list[object] = []

    def counting(obj: object) -> str | None:
        hashed.append(obj)
        return digest(obj)

    monkeypatch.setattr(outcomes, "digest", counting)
    store = JsonlStore(tmp_path / "audit.jsonl")
    journal = _journal(store)
    journal.intend([A], [])
    journal.record([Outcome(A, Status.applied)])
    intent, outcome = store.records()
    assert intent.after == outcome.after == digest(DESIRED) and outcome.intent == intent.seq
    assert hashed == [DESIRED], "the outcome reuses the digest its intent computed"


def test_the_next_turn_closes_an_intent_left_open_by_a_crash_saying_what_live_state_shows(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "audit.jsonl")
    crashed = _journal(store)
    crashed.intend([A, B], [])
    crashed.record([Outcome(A, Status.applied)])  # the process dies before B's outcome
    assert [r.target["name"] for r in open_intents(store.tail())] == ["b"]

    still_missing = replace(B, action=Action.create)
    next_plan = Plan(changes=(replace(A, action=Action.noop), still_missing), revision="e" * 40)
    closings = _journal(store, next_plan).reconcile()
    assert [(c.result, c.intent, c.target["name"]) for c in closings] == [(Result.interrupted, 2, "b")]
    assert "no outcome was recorded" in str(closings[0].error) and "writes it again" in str(closings[0].error)
    assert open_intents(store.tail()) == [] and store.verify().ok
    assert _journal(store, next_plan).reconcile() == [], "closed once"


def test_an_interrupted_write_that_took_effect_is_recorded_as_such(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "audit.jsonl")
    _journal(store).intend([A], [])
    [closing] = _journal(store, Plan(changes=(replace(A, action=Action.noop),))).reconcile()
    assert "the write took effect" in str(closing.error)


def test_open_intents_stop_at_the_newest_batch(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "audit.jsonl")
    for _ in range(3):
        turn = _journal(store)
        turn.reconcile()
        turn.intend([A, B], [])
    assert [r.seq for r in open_intents(store.tail())] == [len(list(store.records())) - 1, len(list(store.records()))]
    assert [r.result for r in store.records()].count(Result.interrupted) == 4, "each turn closed the last one's"


def test_a_log_that_cannot_be_written_stops_the_turn_before_any_write(tmp_path: Path) -> None:
    (tmp_path / "audit.jsonl").mkdir()
    journal = _journal(JsonlStore(tmp_path / "audit.jsonl"))
    with pytest.raises(AuditError, match="cannot open the audit log for writing"):
        journal.intend([A], [])
    assert not journal.writing


def test_a_truncated_or_rewritten_log_fails_the_anchor_check(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    store = JsonlStore(path)
    _journal(store).intend([A, B], [Outcome(DENIED, Status.skipped, "no")])
    head = store.head()
    assert head is not None
    _journal(store).reconcile(anchor=head)  # intact: passes (and closes the two open intents)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]))
    assert store.verify().ok, "a cut-off log is a valid, shorter chain"
    with pytest.raises(AuditError, match=r"ends before record 3.*records were removed"):
        _journal(store).reconcile(anchor=head)
    with pytest.raises(AuditError, match="record 2 does not match the published anchor"):
        _journal(store).reconcile(anchor=Head(2, "0" * 64))


def test_intents_and_outcomes_say_which_actors_a_verified_signature_backs(tmp_path: Path) -> None:
    """Under requireSignedCommits the decisions' actors are signers' principals; the turn's fallback actor (the
    applied commit's author field) stays a claim, in the intent as in the outcome."""
    store = JsonlStore(tmp_path / "audit.jsonl")
    signed = replace(A, decision=Decision(True, "team.rules[0]", "may", ("alice@example.com",)))
    plan = Plan(changes=(signed, B), revision="f" * 40, meta={"identities": "verified"})
    journal = _journal(store, plan)
    journal.intend([signed, B], [])
    journal.record([Outcome(signed, Status.applied), Outcome(B, Status.applied)])
    logged = [(r.actors, r.verified) for r in store.records()]
    alice = (("alice@example.com",), ("alice@example.com",))
    assert logged == [alice, (("ci@example.com",), ()), alice, (("ci@example.com",), ())]
