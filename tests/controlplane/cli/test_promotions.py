"""`mlcp promotions history`: the moves of one model from a log file, as a table and as JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from typer.testing import CliRunner

from controlplane.audit import JsonlStore
from controlplane.audit.outcomes import records_for
from controlplane.cli.app import app
from controlplane.plans import VERIFIED_IDENTITIES, Plan
from reconciler.backends.base import Outcome, Status
from tests.controlplane.audit.conftest import alias_change


def _log(tmp_path: Path) -> Path:
    store = JsonlStore(tmp_path / "audit.jsonl")
    steps = [("1", None, "production"), ("2", "1", "production"), ("4", None, "staging")]
    for number, (version, previous, alias) in enumerate(steps, 1):
        change = alias_change(version, previous, alias=alias)
        plan = Plan((change,), revision=f"{number:040x}")
        store.append_many(records_for(plan, [Outcome(change, Status.applied)], actors=[]))
    return store.path


def test_history_as_json_lists_each_move_of_the_alias(tmp_path: Path) -> None:
    log = _log(tmp_path)
    result = CliRunner().invoke(
        app,
        ["promotions", "history", "vision-detector", "--alias", "production", "-o", "json", "--audit-log", str(log)],
        env={"MLFLOW_TRACKING_URI": ""},
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(m["previousVersion"], m["version"], m["commit"][-1]) for m in data["moves"]] == [
        (None, "1", "1"),
        ("1", "2", "2"),
    ]
    assert data["moves"][1]["approvers"] == ["bob@example.com"] and data["moves"][1]["authors"] == ["alice@example.com"]
    assert data["registry"] is None and data["disagreements"] == []


def test_history_table_and_a_missing_log(tmp_path: Path) -> None:
    log = _log(tmp_path)
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["promotions", "history", "vision-detector", "--audit-log", str(log)],
        env={"MLFLOW_TRACKING_URI": "", "COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    assert "staging" in result.stdout and "1 → 2" in result.stdout and "bob@example.com" in result.stdout
    assert "3 move(s) of vision-detector" in result.stderr
    assert "not checked against the registry" in result.stderr
    missing = runner.invoke(app, ["promotions", "history", "m", "--audit-log", str(tmp_path / "none" / "a.jsonl")])
    assert missing.exit_code == 1 and "no audit log here" in missing.stderr
    assert "Traceback" not in missing.output


def test_a_directory_as_the_log_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["promotions", "history", "m", "--audit-log", str(tmp_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1 and f"{tmp_path}: cannot read the audit log: Is a directory" in result.stderr


def test_history_shows_gates_whatever_a_sealed_record_holds_in_them(tmp_path: Path) -> None:
    """A gate's threshold or measured value that is no number (a record is anyone's to seal) crashed the table."""
    store = JsonlStore(tmp_path / "audit.jsonl")
    change = alias_change("1", None)
    [record] = records_for(Plan((change,), revision="1" * 40), [Outcome(change, Status.applied)], actors=[])
    store.append(replace(record, gates=({"metric": "auc", "comparison": ">=", "measured": "high"},)))
    result = CliRunner().invoke(
        app, ["promotions", "history", "vision-detector", "--audit-log", str(store.path)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, repr(result.exception)
    assert "auc >= None (high)" in result.stdout


def test_a_newline_in_a_recorded_value_cannot_forge_a_row_of_the_history(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "audit.jsonl")
    change = alias_change("1", None)
    [record] = records_for(Plan((change,), revision="1" * 40), [Outcome(change, Status.failed)], actors=[])
    store.append(replace(record, error="boom\n0   2024-06-01 10:00:00  production  ∅ → 9  forged"))
    result = CliRunner().invoke(
        app, ["promotions", "history", "vision-detector", "--audit-log", str(store.path)], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, repr(result.exception)
    assert "boom\\n0" in result.stdout and len(result.stdout.splitlines()) == 2, "a header and the one move"


def _claimed_and_signed(tmp_path: Path) -> Path:
    """Version 1 promoted by a commit whose author field says alice (no signature required: a claim), version 2
    by alice's verified signature (requireSignedCommits), each approved by bob the same way."""
    store = JsonlStore(tmp_path / "audit.jsonl")
    for version, previous, meta in (("1", None, {}), ("2", "1", {"identities": VERIFIED_IDENTITIES})):
        change = alias_change(version, previous)
        plan = Plan((change,), revision=version * 40, meta=meta)
        store.append_many(records_for(plan, [Outcome(change, Status.applied)], actors=[]))
    return store.path


def test_history_marks_authors_and_approvers_no_signature_backs_as_claimed(tmp_path: Path) -> None:
    """Anyone who commits writes any author field: the history read `alice@example.com` the same whether her
    signature backed the promotion or a committer typed her name (a session-15 leftover; `mlcp audit` marks it)."""
    log = _claimed_and_signed(tmp_path)
    args = ["promotions", "history", "vision-detector", "--audit-log", str(log)]
    table = CliRunner().invoke(app, args, env={"MLFLOW_TRACKING_URI": "", "COLUMNS": "300"})
    assert table.exit_code == 0, table.output
    claimed, signed = [line for line in table.stdout.splitlines() if "production" in line]
    assert "alice@example.com (claimed)" in claimed and "bob@example.com (claimed)" in claimed
    assert "(claimed)" not in signed and "alice@example.com" in signed and "bob@example.com" in signed
    data = json.loads(CliRunner().invoke(app, [*args, "-o", "json"], env={"MLFLOW_TRACKING_URI": ""}).stdout)
    assert [(m["authors"], m["verified"]) for m in data["moves"]] == [
        (["alice@example.com"], []),
        (["alice@example.com"], ["alice@example.com"]),
    ], "JSON keeps the names as recorded and says which a signature backs, as `mlcp audit list -o json`"


def test_the_audit_reports_promotion_table_marks_claimed_authors_too(tmp_path: Path) -> None:
    log = _claimed_and_signed(tmp_path)
    result = CliRunner().invoke(app, ["audit", "report", "--html", str(tmp_path / "r.html"), "--audit-log", str(log)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    moves = page[page.index('class="move') :]
    assert "<td>alice@example.com (claimed)</td><td>bob@example.com (claimed)</td>" in moves
    assert "<td>alice@example.com</td><td>bob@example.com</td>" in moves
