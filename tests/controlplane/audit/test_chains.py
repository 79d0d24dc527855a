"""Several chains read as one trail: record ids, the merge by time, and `mlcp audit` over a sharded log.

The CLI tests give `mlcp audit` two file chains in place of the cluster's (the main one and shard 1's), through
`auditlog.chain_stores`, the one seam where the cluster's chains are found; tests/integration/test_audit_chains.py
reads real ones from the API server.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from controlplane.audit import AuditError, AuditRecord, AuditStore, JsonlStore, Result
from controlplane.audit.chains import MAIN, ChainRecord, RecordId, merged, pick
from controlplane.audit.outcomes import records_for
from controlplane.cli import auditlog
from controlplane.plans import Plan
from reconciler.backends.base import Outcome, Status
from tests.controlplane.audit.conftest import alias_change, make_record
from tests.controlplane.helpers import mlcp

SHARD = "shard-1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("42", RecordId(MAIN, 42)), ("shard-3:42", RecordId("shard-3", 42)), ("main:7", RecordId(MAIN, 7))],
)
def test_a_record_id_names_its_chain_and_a_bare_seq_is_the_main_chains(text: str, expected: RecordId) -> None:
    assert RecordId.parse(text) == expected
    assert RecordId.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["0", "-1", "shard-3:", ":4", "Shard:1", "shard 1:2", "x"])
def test_a_malformed_id_is_a_clear_error(text: str) -> None:
    with pytest.raises(AuditError) as caught:
        RecordId.parse(text)
    assert "is not a record id" in str(caught.value) and "shard-3:42" in caught.value.hint


def _at(minute: int, seq: int, result: Result = Result.applied) -> AuditRecord:
    return replace(make_record(seq), time=f"2024-06-01T10:{minute:02d}:00.000000Z", seq=seq, result=result)


def test_merged_orders_by_time_keeps_each_chains_order_and_puts_the_first_chain_first_on_a_tie() -> None:
    main = [_at(1, 1), _at(3, 2), _at(5, 3)]
    shard = [_at(2, 1), _at(3, 2), _at(9, 3), _at(4, 4, Result.pending)]  # an open intent listed last
    found = [str(c.id) for c in merged({MAIN: main, SHARD: shard})]
    assert found == ["1", "shard-1:1", "2", "shard-1:2", "3", "shard-1:3", "shard-1:4"]


def test_pick_reads_every_chain_or_the_one_named() -> None:
    assert pick([MAIN, SHARD], None) == [MAIN, SHARD]
    assert pick([MAIN, SHARD], "main") == [MAIN]
    assert pick([MAIN, SHARD], SHARD) == [SHARD]
    with pytest.raises(AuditError) as caught:
        pick([MAIN, SHARD], "shard-9")
    assert "no audit chain 'shard-9'" in str(caught.value) and caught.value.hint.endswith("main, shard-1")


def test_a_labelled_record_is_the_stored_one_with_its_id_and_chain() -> None:
    record = _at(1, 5)
    data = ChainRecord(SHARD, record).to_dict()
    assert (data.pop("id"), data.pop("chain")) == ("shard-1:5", SHARD)
    assert data == record.to_dict()
    assert ChainRecord(MAIN, record).to_dict()["chain"] == "main"


@pytest.fixture
def sharded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A main chain of 3 changes and shard 1's of 4 (an intent and its outcome among them), as the cluster log
    of a sharded controller holds them; returns the main chain's file."""
    main, shard = JsonlStore(tmp_path / "main.jsonl"), JsonlStore(tmp_path / "shard.jsonl")
    main.append_many([replace(make_record(i), time=f"2024-06-0{1 + 2 * i}T10:00:00.000000Z") for i in range(3)])
    intent = replace(make_record(4), time="2024-06-02T10:00:00.000000Z", result=Result.pending)
    shard.append_many([replace(make_record(3), time="2024-06-02T09:00:00.000000Z"), intent])
    outcome = replace(make_record(4), time="2024-06-02T10:00:01.000000Z", intent=2, diff=())
    shard.append_many([outcome, replace(make_record(5), time="2024-06-04T10:00:00.000000Z")])

    def chain_stores(store: AuditStore) -> dict[str, AuditStore]:
        return {MAIN: store, SHARD: shard}

    monkeypatch.setattr(auditlog, "chain_stores", chain_stores)
    return main.path


def test_list_merges_every_chain_by_time_and_names_each_record(sharded: Path) -> None:
    result = mlcp("audit", "list", "--audit-log", sharded, "-o", "json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [r["id"] for r in listed] == ["1", "shard-1:1", "shard-1:3", "2", "shard-1:4", "3"]
    assert [r["chain"] for r in listed] == ["main", SHARD, SHARD, "main", SHARD, "main"]
    folded = next(r for r in listed if r["id"] == "shard-1:3")
    assert folded["diff"] == [{"field": "spec.image", "old": "img:4", "new": "img:5"}], "its own chain's intent"
    table = mlcp("audit", "list", "--audit-log", sharded)
    assert "shard-1:3" in table.stdout and "6 change(s)" in table.stderr


def test_list_filters_apply_to_every_chain_and_chain_picks_one(sharded: Path) -> None:
    args = ("audit", "list", "--audit-log", sharded, "-o", "json")
    nlp = json.loads(mlcp(*args, "--tenant", "nlp").stdout)
    assert [r["id"] for r in nlp] == ["1", "shard-1:1"]
    raw = json.loads(mlcp(*args, "--raw", "--chain", SHARD).stdout)
    assert [r["id"] for r in raw] == ["shard-1:1", "shard-1:2", "shard-1:3", "shard-1:4"]
    assert [r["id"] for r in json.loads(mlcp(*args, "--chain", "main").stdout)] == ["1", "2", "3"]
    unknown = mlcp(*args, "--chain", "shard-9")
    assert unknown.exit_code == 1 and "no audit chain 'shard-9'" in unknown.stderr and "Traceback" not in unknown.output


def test_show_finds_a_record_by_its_id_and_pairs_it_within_its_chain(sharded: Path) -> None:
    text = mlcp("audit", "show", "shard-1:3", "--audit-log", sharded)
    assert text.exit_code == 0, text.output
    assert "record shard-1:3" in text.stdout and "chain shard-1" in text.stdout
    assert "record shard-1:2" in text.stdout, "its intent, in the same chain"
    shown = json.loads(mlcp("audit", "show", "shard-1:2", "--audit-log", sharded, "-o", "json").stdout)
    assert (shown["id"], shown["chain"], shown["outcome"]["id"]) == ("shard-1:2", SHARD, "shard-1:3")
    main = json.loads(mlcp("audit", "show", "2", "--audit-log", sharded, "-o", "json").stdout)
    assert (main["id"], main["chain"], main["tenant"]) == ("2", "main", "vision")
    missing = mlcp("audit", "show", "shard-1:9", "--audit-log", sharded)
    assert missing.exit_code == 1 and "no record shard-1:9: chain shard-1 has 4 record(s)" in missing.stderr
    bad = mlcp("audit", "show", "shard-1", "--audit-log", sharded)
    assert bad.exit_code == 1 and "'shard-1' is not a record id" in bad.stderr


def test_report_verifies_every_chain_and_offers_the_chain_as_a_filter(sharded: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = mlcp("audit", "report", "--html", page, "--audit-log", sharded)
    assert result.exit_code == 0, result.output
    assert "(6 change(s) in 2 chains)" in result.stderr
    html = page.read_text(encoding="utf-8")
    assert "main: chain intact: 3 records" in html and "shard-1: chain intact: 4 records" in html
    assert html.count('<tr class="rec') == 6 and 'id="f-chain"' in html and 'data-chain="shard-1"' in html
    assert "<td>shard-1:3</td>" in html


def test_promotion_history_reads_the_moves_in_every_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    main, shard = JsonlStore(tmp_path / "main.jsonl"), JsonlStore(tmp_path / "shard.jsonl")
    for store, (version, previous, number) in ((main, ("1", None, 1)), (shard, ("2", "1", 2))):
        change = alias_change(version, previous)
        plan = Plan((change,), revision=f"{number:040x}")
        store.append_many(records_for(plan, [Outcome(change, Status.applied)], actors=[]))
    monkeypatch.setattr(auditlog, "chain_stores", lambda store: {MAIN: store, SHARD: shard})
    result = mlcp("promotions", "history", "vision-detector", "-o", "json", "--audit-log", main.path)
    assert result.exit_code == 0, result.output
    moved = json.loads(result.stdout)["moves"]
    assert [(m["id"], m["version"]) for m in moved] == [("1", "1"), ("shard-1:1", "2")]
