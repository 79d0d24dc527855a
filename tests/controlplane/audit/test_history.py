"""Promotion history from the audit log: every move with its version, commit, authors, approvers, gates, outcome.

Alias records carry `version`, `approvers` and `gates` only since they were
added; a log written before still verifies byte for byte (a golden file
written by the code before the change), and its moves still show, their
version read from the diff. The registry's account is compared with the last
effective move, and each disagreement is said.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from controlplane.audit import JsonlStore, Result
from controlplane.audit.chains import MAIN
from controlplane.audit.history import RegistryAlias, disagreements, moves, moves_in
from controlplane.audit.outcomes import records_for
from controlplane.plans import Change, Plan
from reconciler.backends.base import Outcome, Status
from tests.controlplane.audit.conftest import GATES, alias_change

GOLDEN = Path(__file__).parent / "testdata" / "before-promotion-fields.jsonl"


def _log(tmp_path: Path, *steps: tuple[Change, Status, str]) -> JsonlStore:
    store = JsonlStore(tmp_path / "audit.jsonl")
    for number, (change, status, message) in enumerate(steps, 1):
        plan = Plan((change,), revision=f"{number:040x}")
        store.append_many(records_for(plan, [Outcome(change, status, message)], actors=["ci@example.com"]))
    return store


def test_every_move_with_version_commit_authors_approvers_gates_and_outcome(tmp_path: Path) -> None:
    store = _log(
        tmp_path,
        (alias_change("1", None), Status.applied, ""),
        (alias_change("2", "1"), Status.failed, "compare-and-set refused"),
        (alias_change("2", "1"), Status.applied, ""),
        (alias_change("5", None, alias="staging"), Status.applied, ""),
        (alias_change("3", None, model="vision-other"), Status.applied, ""),
    )
    found = moves(store.records(), "vision-detector", "production")
    assert [(m.previous, m.version, m.outcome) for m in found] == [
        (None, "1", "applied"),
        ("1", "2", "failed"),
        ("1", "2", "applied"),
    ]
    first = found[0]
    assert first.commit == f"{1:040x}" and first.authors == ("alice@example.com",)
    assert first.approvers == ("bob@example.com",) and first.gates == tuple(GATES)
    assert found[1].error == "compare-and-set refused"
    assert [m.alias for m in moves(store.records(), "vision-detector")] == ["production"] * 3 + ["staging"]
    assert store.verify().ok


def test_a_log_written_before_the_promotion_fields_verifies_and_still_shows_its_moves(tmp_path: Path) -> None:
    copy = tmp_path / "old.jsonl"
    shutil.copy(GOLDEN, copy)
    store = JsonlStore(copy)
    assert store.verify().ok, "records sealed before the fields existed hash exactly as they were sealed"
    old = moves(store.records(), "vision-detector", "production")
    assert [(m.previous, m.version, m.approvers) for m in old] == [(None, "1", ()), ("1", "2", ())]
    change = alias_change("3", "2")
    store.append_many(records_for(Plan((change,), revision="c" * 40), [Outcome(change, Status.applied)], actors=[]))
    assert store.verify().ok
    assert [m.version for m in moves(store.records(), "vision-detector")] == ["1", "2", "3"]
    assert "approvers" not in next(store.records()).content(), "an old record keeps its exact form"


def test_the_registry_is_checked_against_the_last_effective_move(tmp_path: Path) -> None:
    store = _log(
        tmp_path,
        (alias_change("1", None), Status.applied, ""),
        (alias_change("2", "1"), Status.applied, ""),
        (alias_change("3", "2"), Status.failed, "conflict"),
    )
    found = moves(store.records(), "vision-detector")
    commit = f"{2:040x}"
    agreeing = RegistryAlias("production", "2", {"version": "2", "commit": commit})
    assert disagreements(found, [agreeing]) == []
    by_hand = RegistryAlias("production", "3", {"version": "2", "commit": commit, "by": "a@x", "at": "t"})
    (problem,) = disagreements(found, [by_hand])
    assert "registry has it at version 3" in problem and "left it at version 2" in problem
    assert "moved outside mlcp" in problem
    (tags,) = disagreements(found, [RegistryAlias("production", "2", {"version": "1"}, recorded="2")])
    assert "the model's tag claims mlcp last moved it to version 1, the audit log says 2" in tags
    assert "unverified (anyone with EDIT on the model can write it)" in tags
    (record,) = disagreements(found, [RegistryAlias("production", "2", {"version": "2"}, recorded="1")])
    assert "mlcp's inventory record says mlcp last moved it to version 1, the audit log says 2" in record
    forged = disagreements(found, [RegistryAlias("production", "3", {"version": "3"}, recorded="2")])
    assert len(forged) == 2 and "moved outside mlcp since" in forged[0] and "tag claims" in forged[1], forged
    (unknown,) = disagreements(found, [RegistryAlias("staging", "7")])
    assert unknown.startswith("staging:") and "records no move" in unknown
    assert disagreements(found, [RegistryAlias("canary", None)]) == []


def test_a_drift_heal_is_a_move_that_says_so(tmp_path: Path) -> None:
    heal = replace(alias_change("2", "3"), drift="production was moved outside mlcp to version 3")
    store = _log(tmp_path, (alias_change("2", None), Status.applied, ""), (heal, Status.applied, ""))
    first, healed = moves(store.records(), "vision-detector")
    assert not first.healed_drift and healed.healed_drift
    assert healed.reason.startswith("drift healed: production was moved outside mlcp to version 3; ")
    assert healed.to_dict()["healedDrift"] is True


def test_unchanged_and_other_kinds_are_not_moves(tmp_path: Path) -> None:
    noop = alias_change("1", None)
    store = _log(tmp_path, (noop, Status.unchanged, ""))
    assert moves(store.records(), "vision-detector") == []
    (record,) = store.records()
    assert record.result is Result.unchanged and record.version == "1"


def test_moves_of_several_chains_are_paired_within_each_merged_by_time_and_named_by_id(tmp_path: Path) -> None:
    """With shards a tenant's alias moves are in its shard's chain, whose seqs repeat the main chain's."""
    main = _log(tmp_path, (alias_change("1", None), Status.applied, ""))
    (tmp_path / "shard").mkdir()
    shard = _log(tmp_path / "shard", (alias_change("2", "1"), Status.applied, ""))
    found = moves_in({MAIN: main.records(), "shard-1": shard.records()}, "vision-detector")
    assert [(str(m.id), m.version) for m in found] == [("1", "1"), ("shard-1:1", "2")]
    assert (found[1].to_dict()["id"], found[1].to_dict()["chain"]) == ("shard-1:1", "shard-1")
    problems = disagreements(found, [RegistryAlias("production", "1")])
    assert len(problems) == 1 and "#shard-1:1" in problems[0], "the last move is the shard's, named by its id"
