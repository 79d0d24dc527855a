"""`mlcp audit`: exit codes, output shapes, and clear errors for missing or damaged logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import git
import pytest
import typer
from click.testing import Result as CliResult

from controlplane.audit import Anchor, JsonlStore, Result, Verdict
from controlplane.cli import auditlog
from controlplane.errors import Refused
from controlplane.inventory import Inventory
from controlplane.plans import Action, Change, FieldDiff, ObjectRef, Plan
from reconciler import anchors, applyturn, auditstore
from reconciler.applying import apply_plan, unchecked
from reconciler.auditstore import ClusterStore
from reconciler.backends.base import ApplyOptions, Backend, LiveState, Outcome, Status
from reconciler.targets import Targets
from tests.controlplane.audit.conftest import make_record, sealed_line
from tests.controlplane.helpers import mlcp
from tests.reconciler.test_auditstore import FakeConfigMaps


def test_list_prints_a_table_and_filters(log: Path) -> None:
    result = mlcp("audit", "list", "--audit-log", log, "--tenant", "nlp")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "nlp" in line]
    assert len(rows) == 4 and "4 change(s)" in result.stderr
    assert "vision" not in result.stdout


def test_list_json_is_the_stored_records(log: Path) -> None:
    result = mlcp("audit", "list", "--audit-log", log, "-o", "json", "--actor", "alice", "--kind", "ResourceQuota")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data and all(r["actors"] == ["alice@example.com"] and r["target"]["kind"] == "ResourceQuota" for r in data)
    first = dict(data[0])
    assert (first.pop("id"), first.pop("chain")) == (str(first["seq"]), "main"), "labelled with its id and chain"
    assert first == json.loads(log.read_bytes().splitlines()[first["seq"] - 1]), "and otherwise as stored"


def test_list_by_time_decision_and_result(log: Path) -> None:
    args = ("audit", "list", "--audit-log", log, "-o", "json")
    since = json.loads(mlcp(*args, "--since", "2024-06-10", "--until", "2024-06-11T23:59Z").stdout)
    assert [r["time"][:10] for r in since] == ["2024-06-10", "2024-06-11"]
    assert json.loads(mlcp(*args, "--decision", "deny").stdout) == []
    assert len(json.loads(mlcp(*args, "--result", "applied").stdout)) == 12
    bad = mlcp(*args, "--since", "last tuesday")
    assert bad.exit_code == 1 and "'last tuesday' is not a time" in bad.stderr


def test_the_env_var_names_the_log(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCP_AUDIT_LOG", str(log))
    result = mlcp("audit", "list", "-o", "json")
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 12


def test_show_prints_the_whole_record_with_its_diff(log: Path) -> None:
    result = mlcp("audit", "show", "3", "--audit-log", log)
    assert result.exit_code == 0, result.output
    for text in ("record 3", "carol@example.com", "Pipeline/ranking/p2", "allow by rule no-policy-yet", "hash:"):
        assert text in result.stdout
    assert '~ spec.image: "img:2" → "img:3"' in result.stdout
    assert json.loads(mlcp("audit", "show", "3", "--audit-log", log, "-o", "json").stdout)["seq"] == 3
    missing = mlcp("audit", "show", "99", "--audit-log", log)
    assert missing.exit_code == 1 and "no record 99: the log has 12 record(s)" in missing.stderr


def test_verify_exits_0_and_prints_the_head(log: Path) -> None:
    result = mlcp("audit", "verify", "--audit-log", log)
    assert result.exit_code == 0, result.output
    assert "12 record(s), chain intact" in result.stderr
    anchor = result.stdout.split()[-1]
    assert mlcp("audit", "verify", "--audit-log", log, "--anchor", anchor).exit_code == 0


def test_verify_exits_1_naming_the_first_bad_record(log: Path) -> None:
    lines = log.read_bytes().splitlines(keepends=True)
    lines[6] = lines[6].replace(b"img:7", b"img:X")
    del lines[9]
    log.write_bytes(b"".join(lines))
    result = mlcp("audit", "verify", "--audit-log", log)
    assert result.exit_code == 1
    assert "audit log broken at record 7: its hash does not match its content" in result.stderr
    data = json.loads(mlcp("audit", "verify", "--audit-log", log, "-o", "json").stdout)
    assert data["ok"] is False and data["badSeq"] == 7 and data["count"] == 6


def test_verify_with_an_anchor_catches_a_cut_off_end(log: Path) -> None:
    anchor = mlcp("audit", "verify", "--audit-log", log).stdout.split()[-1]
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:10]))
    result = mlcp("audit", "verify", "--audit-log", log, "--anchor", anchor)
    assert result.exit_code == 1 and "broken at record 11" in result.stderr
    assert mlcp("audit", "verify", "--audit-log", log, "--anchor", "nonsense").exit_code == 1


def test_export_copies_bytes_that_verify_on_their_own(log: Path, tmp_path: Path) -> None:
    result = mlcp("audit", "export", "--audit-log", log)
    assert result.exit_code == 0 and result.stdout_bytes == log.read_bytes()
    copy = tmp_path / "copy.jsonl"
    result = mlcp("audit", "export", "--audit-log", log, "--out", copy)
    assert result.exit_code == 0 and "exported 12 record(s)" in result.stderr
    assert copy.read_bytes() == log.read_bytes() and JsonlStore(copy).verify().ok


def test_the_files_written_are_named_as_they_are(log: Path, tmp_path: Path) -> None:
    """A path is shown as text, never as markup (`[bold]` was taken for a style and vanished, `[/x]` crashed)."""
    folder = tmp_path / "[bold]" / "[/x]"
    folder.mkdir(parents=True)
    result = mlcp("audit", "export", "--audit-log", log, "--out", folder / "copy.jsonl")
    assert result.exit_code == 0 and f"exported 12 record(s) to {folder / 'copy.jsonl'}" in result.stderr
    result = mlcp("audit", "report", "--html", folder / "r.html", "--audit-log", log)
    assert result.exit_code == 0 and f"wrote {folder / 'r.html'} (12 change(s))" in result.stderr


def test_report_writes_a_self_contained_page(log: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = mlcp("audit", "report", "--html", page, "--audit-log", log)
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "chain intact: 12 records" in html and html.count('<tr class="rec') == 12
    assert "http://" not in html and "https://" not in html and "src=" not in html


@pytest.mark.parametrize("command", [["list"], ["show", "1"], ["verify"], ["export"], ["report", "--html", "x.html"]])
def test_a_missing_log_is_a_clear_error(tmp_path: Path, command: list[str]) -> None:
    result = mlcp("audit", *command, "--audit-log", tmp_path / "nope.jsonl")
    assert result.exit_code == 1
    assert "nope.jsonl: no audit log here" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("command", [["list"], ["show", "1"], ["verify"], ["export"], ["report", "--html", "x.html"]])
def test_a_directory_as_the_log_is_a_clear_error(tmp_path: Path, command: list[str]) -> None:
    """`--audit-log` naming a directory ended list, show and export in an IsADirectoryError traceback."""
    folder = tmp_path / "logs"
    folder.mkdir()
    result = mlcp("audit", *command, "--audit-log", folder)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1 and f"{folder}: cannot read the audit log: Is a directory" in result.stderr
    assert "pass the log's file with --audit-log" in result.stderr


def test_a_corrupt_line_is_named(log: Path) -> None:
    lines = log.read_bytes().splitlines(keepends=True)
    lines[4] = b'{"seq": 5, oops\n'
    log.write_bytes(b"".join(lines))
    result = mlcp("audit", "list", "--audit-log", log)
    assert result.exit_code == 1 and "audit.jsonl:5: not an audit record" in result.stderr
    verify = mlcp("audit", "verify", "--audit-log", log)
    assert verify.exit_code == 1 and "record 5" in verify.stderr


class Writes(Backend):
    """A backend that applies every change and counts the writes it was sent."""

    system = "kubernetes"
    order = 20
    target = "fake"

    def __init__(self) -> None:
        self.writes = 0

    def read(self) -> LiveState:
        return LiveState({}, Inventory())

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        self.writes += 1
        return Outcome(change, Status.applied)

    def current_version(self, ref: ObjectRef) -> str | None:
        return None

    def record_inventory(self, refs: frozenset[ObjectRef], options: ApplyOptions) -> None:
        self.writes += 1


class Untrusted(Writes):
    """A system whose plan found mlcp's own records untrusted (an MLflow record store others may write)."""

    system = "mlflow"
    problems: tuple[str, ...] = ("MLflow experiment 'mlcp-inventory.mlcp-system' (id 7), where mlcp keeps its "
                                 "records, can be written by carol (MANAGE)",)  # fmt: skip

    @property
    def record_problems(self) -> tuple[str, ...]:
        return self.problems


def _apply_turn(
    tmp_path: Path, log: Path, then: git.Actor | None = None, also: dict[str, Backend] | None = None
) -> tuple[Writes, Plan]:
    """Apply a plan of Dana's commit; `then` commits on top of it first (the clone moved on since the plan)."""
    repo = git.Repo.init(tmp_path / "config")
    (tmp_path / "config" / "mlcp.yaml").write_text("x: 1\n", encoding="utf-8")
    repo.index.add(["mlcp.yaml"])
    author = git.Actor("Dana", "dana@example.com")
    commit = repo.index.commit("first", author=author, committer=author)
    if then is not None:
        repo.index.commit("later", author=then, committer=then)
    ref = ObjectRef("kubernetes", "v1", "ResourceQuota", "nlp", "quota")
    change = Change(
        ref,
        Action.update,
        "differs",
        "Quota/nlp/q",
        "nlp",
        "tenants/nlp/quota.yaml:1",
        30,
        diffs=(FieldDiff(("spec", "hard", "cpu"), "4", "8"),),
        desired={"spec": {"hard": {"cpu": "8"}}},
    )
    plan, backend = Plan(changes=(change,), revision=commit.hexsha), Writes()
    backends: dict[str, Backend] = {"kubernetes": backend, **(also or {})}
    with auditlog.turn(str(log), Targets(), plan, tmp_path / "config", backends) as turn:
        apply_plan(plan, turn.backends, ApplyOptions(), audit=turn.journal, authorize=unchecked)
    return backend, plan


def test_an_apply_turn_records_an_intent_before_and_the_outcome_after_by_the_head_author(tmp_path: Path) -> None:
    log = tmp_path / "elsewhere.jsonl"
    backend, plan = _apply_turn(tmp_path, log)
    records = list(JsonlStore(log).records())
    assert [(r.result, r.intent) for r in records] == [(Result.pending, None), (Result.applied, 1)]
    assert records[0].actors == ("dana@example.com",) and records[0].commit == plan.revision
    assert backend.writes == 2, "the write and the inventory"
    listed = json.loads(mlcp("audit", "list", "--audit-log", log, "-o", "json").stdout)
    assert [(r["seq"], r["result"], r["diff"][0]["new"]) for r in listed] == [(2, "applied", "8")]
    raw = json.loads(mlcp("audit", "list", "--audit-log", log, "-o", "json", "--raw").stdout)
    assert [r["result"] for r in raw] == ["pending", "applied"]
    shown = mlcp("audit", "show", "2", "--audit-log", log)
    assert "intent:   record 1" in shown.stdout and '~ spec.hard.cpu: "4" → "8"' in shown.stdout
    assert "outcome:  record 2" in mlcp("audit", "show", "1", "--audit-log", log).stdout


def test_an_apply_turn_records_the_author_of_the_applied_commit_not_of_the_clones_head(tmp_path: Path) -> None:
    """A saved plan names a commit the clone's HEAD may have moved past: its writes were recorded as HEAD's
    author's, and under HEAD's commit."""
    log = tmp_path / "audit.jsonl"
    _, plan = _apply_turn(tmp_path, log, then=git.Actor("Admin", "admin@example.com"))
    records = list(JsonlStore(log).records())
    assert {(r.actors, r.commit) for r in records} == {(("dana@example.com",), plan.revision)}


def test_an_apply_turn_records_the_record_stores_it_did_not_trust(tmp_path: Path) -> None:
    """Carol made mlcp's MLflow record store before mlcp did: the plan refuses that server (a plan error and a
    metric), and the audit log now says so too, as a denial under rule `record-store`, before the first intent."""
    log = tmp_path / "audit.jsonl"
    _apply_turn(tmp_path, log, also={"mlflow": Untrusted()})
    first, *rest = JsonlStore(log).records()
    assert (first.rule, first.decision, first.result) == ("record-store", Verdict.deny, Result.denied)
    assert "carol (MANAGE)" in (first.error or "") and first.target["name"] == "records"
    assert [r.result for r in rest] == [Result.pending, Result.applied]
    listed = mlcp("audit", "list", "--decision", "deny", "--audit-log", log)
    assert listed.exit_code == 0 and "Refusal/re" in listed.stdout, listed.output
    shown = " ".join(mlcp("audit", "show", "1", "--audit-log", log).stdout.split())
    assert "deny by rule record-store" in shown and "carol (MANAGE)" in shown, shown


def test_an_apply_turn_with_an_unwritable_log_applies_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    log.mkdir()
    with pytest.raises(typer.Exit) as stopped:
        _apply_turn(tmp_path, log)
    assert stopped.value.exit_code == 1
    said = " ".join(capsys.readouterr().err.split())
    assert "cannot open the audit log for writing" in said and "nothing was applied" in said


class _Elector:
    may_write = staticmethod(lambda: True)
    remaining = staticmethod(lambda: 10.0)


def test_a_refused_apply_records_its_refusal_under_the_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refusal appended without the Lease can land between two appends of the loop's intents: the next turn,
    reading back only to the start of the newest run of intents, would then never close the earlier ones."""
    api, held = FakeConfigMaps(), []

    @contextmanager
    def hold(*_: object) -> Iterator[_Elector]:
        held.append(True)
        yield _Elector()
        held.pop()

    def no_append_outside_the_lease() -> None:
        assert held, "appended without the Lease"

    monkeypatch.setattr(applyturn, "hold", hold)
    monkeypatch.setattr(auditlog, "open_store", lambda *_: ClusterStore(api))  # type: ignore[arg-type]
    api.before_post.append(no_append_outside_the_lease)
    refused = Refused("the repo names another cluster", "", "operator-targets", "mlcp.yaml")
    auditlog.record_refusal(refused, "c" * 40, None, Targets())
    [record] = ClusterStore(api).records()  # type: ignore[arg-type]
    assert (record.rule, record.result, held) == ("operator-targets", Result.denied, [])
    assert "taking the Lease" in capsys.readouterr().err


def test_a_refusal_is_recorded_under_its_commit_naming_no_one(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    refused = Refused("the repo names another cluster", "", "operator-targets", "mlcp.yaml")
    auditlog.record_refusal(refused, "c" * 40, str(log), Targets())
    [record] = JsonlStore(log).records()
    assert (record.commit, record.actors, record.rule) == ("c" * 40, (), "operator-targets")
    assert "actors:   (none)" in mlcp("audit", "show", "1", "--audit-log", log).stdout
    assert "(none)" in mlcp("audit", "list", "--audit-log", log).stdout


def test_verify_against_an_exported_anchor_file(log: Path, tmp_path: Path) -> None:
    head = mlcp("audit", "verify", "--audit-log", log).stdout.split()[-1]
    exported = tmp_path / "anchor.json"
    exported.write_text(json.dumps({"anchor": head, "log": "file:/elsewhere.jsonl"}), encoding="utf-8")
    result = mlcp("audit", "verify", "--audit-log", log, "--anchor", exported)
    assert result.exit_code == 0 and "was published for file:/elsewhere.jsonl" in result.stderr
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:11]))
    cut = mlcp("audit", "verify", "--audit-log", log, "--anchor", exported)
    assert cut.exit_code == 1 and "records were removed" in cut.stderr
    missing = mlcp("audit", "verify", "--audit-log", log, "--anchor", tmp_path / "none.json")
    assert missing.exit_code == 1 and "cannot read the anchor file" in missing.stderr


@pytest.mark.parametrize(
    ("content", "said"),
    [(b"\xff\xfe{}", "not UTF-8 text"), (b" " * (2 << 20) + b"{}", "longer than")],
    ids=["not-utf-8", "huge"],
)
def test_an_anchor_file_that_is_no_export_is_a_clear_error(
    log: Path, tmp_path: Path, content: bytes, said: str
) -> None:
    """Anchor copies come back from buckets and CI artifacts: one that is binary ended verify in a traceback, and
    one of gigabytes was read whole."""
    exported = tmp_path / "anchor.json"
    exported.write_bytes(content)
    result = mlcp("audit", "verify", "--audit-log", log, "--anchor", exported)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), repr(result.exception)
    assert said in result.stderr and "not an exported anchor" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "--anchor", "FILE"],
        ["verify", "--anchor", "1" * 5000 + ":" + "a" * 64],
        ["show", "1" * 5000],
        ["list", "--since", "99999999999d"],
    ],
    ids=["anchor-file", "anchor-argument", "show", "since"],
)
def test_a_number_no_int_can_hold_is_a_clear_error_not_a_traceback(log: Path, tmp_path: Path, args: list[str]) -> None:
    exported = tmp_path / "anchor.json"
    exported.write_text(json.dumps({"anchor": f"\u00b2:{'a' * 64}"}), encoding="utf-8")
    result = mlcp("audit", *[str(exported) if a == "FILE" else a for a in args], "--audit-log", log)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), repr(result.exception)
    assert "error:" in result.stderr


MALFORMED = {
    "intent-1e400": (["list"], {"intent": "1e400"}),  # json reads inf; int(inf) raised OverflowError
    "nested-100000": (["list"], {"diff": "[" * 100_000 + "]" * 100_000}),  # json.loads raised RecursionError
    "diff-of-strings": (["show", "1"], {"diff": '["spec.image"]'}),  # entry.get raised AttributeError
    "actors-a-string": (["list", "--actor", "eve"], {"actors": '"eve@example.com"'}),  # matched character by character
    "target-a-string": (["list", "--kind", "x"], {"target": '"ConfigMap/x"'}),
    "gates-of-numbers": (["show", "1"], {"gates": "[0.9]", "version": '"2"', "approvers": "[]"}),
    "verified-a-stranger": (["list"], {"verified": '["mallory@example.com"]'}),  # not among the actors
    # a key twice: mlcp read the last actors (alice), a reader taking the first saw mallory; both sealed alike
    "a-key-twice": (["list", "--actor", "alice"], {"action": '"update","actors":["mallory@example.com"]'}),
    "nan": (["show", "1"], {"diff": '[{"field":"spec.x","old":NaN,"new":Infinity}]'}),  # -o json printed null
    "spacing": (["list"], {"action": ' "update"'}),  # any form but mlcp's own: what else could differ
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_sealed_record_of_another_shape_is_a_clear_error_for_every_reader(case: str, tmp_path: Path) -> None:
    """The hashes hold (anyone can compute them); the content is not what mlcp writes. `verify` refuses it as every
    reader does: before, it hashed the bytes only and said intact, so the anchor an operator shipped covered a
    record that no reader would show."""
    args, fields = MALFORMED[case]
    log = tmp_path / "audit.jsonl"
    log.write_bytes(sealed_line(**fields))
    for command in (args, ["report", "--html", str(tmp_path / "r.html")], ["list", "-o", "json"], ["verify"]):
        result = mlcp("audit", *command, "--audit-log", log)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), repr(result.exception)
        assert "record 1" in result.stderr or "audit.jsonl:1" in result.stderr
        assert "not an audit record" in " ".join(result.stderr.split())


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_a_record_nested_deeper_than_the_printers_go_is_shown_without_a_traceback(tmp_path: Path) -> None:
    """YAML (show) gives up near 500 levels and orjson (-o json) past 254; the file log reads nearly 1,000."""
    log = tmp_path / "audit.jsonl"
    deep = replace(make_record(0), action="create", diff=({"field": "", "old": None, "new": _nested(600)},))
    JsonlStore(log).append_many([deep, replace(make_record(1), diff=({"field": "x", "old": 2**70, "new": 1},))])
    shown = mlcp("audit", "show", "1", "--audit-log", log)
    assert shown.exit_code == 0 and "(created): nested too deeply to show" in shown.stdout, repr(shown.exception)
    listed = mlcp("audit", "list", "-o", "json", "--audit-log", log)
    assert listed.exit_code == 0, repr(listed.exception)
    assert json.loads(listed.stdout)[1]["diff"][0]["old"] == 2**70, "an integer beyond 64 bits, printed as it is"


def test_an_author_named_with_escape_sequences_cannot_drive_the_terminal(tmp_path: Path) -> None:
    """git takes any byte but `<`, `>` and newline in an author's name and email, so the actors mlcp records
    are the attacker's text: `mlcp audit list` and `show` print it with its control characters as escapes."""
    from dataclasses import replace

    from tests.controlplane.audit.conftest import make_record

    log = tmp_path / "audit.jsonl"
    forged = "eve\x1b[1A\x1b[2K\u202e@example.com"
    JsonlStore(log).append(replace(make_record(0), actors=(forged,), tenant="nlp\x1b[8m"))
    for args, visible in ((("list",), "nlp\\x1b[8m"), (("show", "1"), "eve\\x1b[1A\\x1b[2K\\u202e@example.com")):
        result = mlcp("audit", *args, "--audit-log", log)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\u202e" not in result.output, args
        assert visible in result.stdout, (args, result.stdout)  # the table cuts the actor at its column's width


def test_export_to_a_terminal_shows_a_hostile_line_without_obeying_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Export copies the stored bytes, and a line whoever can write the log sealed may hold raw escape sequences
    (only mlcp's own form escapes them): printed to a terminal they cleared the screen or wrote forged lines. To a
    pipe or a file the bytes stay exactly as stored, so the copy verifies."""
    from controlplane.cli import console

    log = tmp_path / "audit.jsonl"
    log.write_bytes(sealed_line(action='"up\u001b[2Jdate"').replace(b"\\u001b", b"\x1b"))
    assert b"\x1b[2J" in log.read_bytes()
    piped = mlcp("audit", "export", "--audit-log", log)
    assert piped.stdout_bytes == log.read_bytes(), "byte for byte to a pipe"
    monkeypatch.setattr(console.out, "_force_terminal", True)
    shown = mlcp("audit", "export", "--audit-log", log)
    assert shown.exit_code == 0 and "\x1b" not in shown.stdout and "up\\x1b[2Jdate" in shown.stdout


def test_a_value_with_newlines_cannot_forge_lines_of_show_or_rows_of_list(tmp_path: Path) -> None:
    """git takes a newline in a file name (the spec path), a YAML key may hold one (a diff's field path), a policy
    rule or a tenant's values too: `show` prints one field per line, so a newline started a line of its own that
    read as the record's, e.g. a second `result:` saying `applied` above the real `denied`."""
    log = tmp_path / "audit.jsonl"
    forged = "tenants/nlp/p.yaml\n  decision: allow by rule team.rules[0]\n  result:   applied\n  x"
    record = replace(make_record(0), spec_path=forged, decision=Verdict.deny, result=Result.denied, rule="freeze\r")
    record = replace(record, tenant="nlp\nvision", diff=({"field": "a\n    ~ spec.image", "old": 1, "new": 2},))
    JsonlStore(log).append_many([record, make_record(2)])
    shown = mlcp("audit", "show", "1", "--audit-log", log)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert [line.split()[0] for line in lines if line.lstrip().startswith("result:")] == ["result:"]
    assert "  result:   denied" in lines and "tenants/nlp/p.yaml\\n  decision: allow" in shown.stdout
    assert "    ~ a\\n    ~ spec.image: 1 → 2" in lines and "freeze\\x0d" in shown.stdout
    listed = mlcp("audit", "list", "--audit-log", log)
    assert listed.exit_code == 0 and "nlp\\nvisi" in listed.stdout, "the tenant's newline, escaped in its cell"
    assert not [line for line in listed.stdout.splitlines() if "vision" in line], "no line of a row of its own"


@pytest.fixture
def sharded(monkeypatch: pytest.MonkeyPatch) -> FakeConfigMaps:
    """A sharded controller's cluster log: the main chain and shard-3's, each with its published anchor."""
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 2048)
    api = FakeConfigMaps()
    for chain, count in (("", 5), ("shard-3", 20)):
        store = ClusterStore(api, chain)  # type: ignore[arg-type]
        store.append_many([make_record(i) for i in range(count)])
        head = store.head()
        assert head is not None
        published = Anchor(head, store.location, "2024-06-01T00:00:00.000000Z", "leader")
        anchors.publish(api, published, chain)  # type: ignore[arg-type]
    monkeypatch.setattr(auditlog, "cluster_client", lambda _targets: api)
    assert mlcp("audit", "verify", "--anchor", "cluster").exit_code == 0
    return api


def _cut(api: FakeConfigMaps, chain: str, keep: int) -> None:
    """Cut a chain back to its first `keep` segments, pointer included, as whoever can edit the namespace can."""
    for name in sorted(n for n in api.objects if n.startswith(f"mlcp-audit-{chain}-"))[keep:]:
        del api.objects[name]
    api.objects[f"mlcp-audit-{chain}"]["data"]["segment"] = str(keep)


def _shard_3(result: CliResult) -> dict[str, Any]:
    [shard] = [c for c in json.loads(result.stdout)["chains"] if c["chain"] == "shard-3"]
    return dict(shard)


@pytest.mark.parametrize("how", ["deleted", "relabelled"])
def test_a_shard_chain_whose_pointer_is_taken_away_is_still_checked_against_its_published_anchor(
    sharded: FakeConfigMaps, how: str
) -> None:
    """Deleting shard-3's pointer and segments, or relabelling its pointer and cutting the chain, took the chain
    out of `verify --anchor cluster` while its anchor still said 20 records."""
    if how == "deleted":
        for name in [n for n in sharded.objects if n.startswith("mlcp-audit-shard-3")]:
            del sharded.objects[name]
    else:
        _cut(sharded, "shard-3", 1)
        del sharded.objects["mlcp-audit-shard-3"]["metadata"]["labels"][auditstore.CHAIN_LABEL]
    result = mlcp("audit", "verify", "--anchor", "cluster", "-o", "json")
    assert result.exit_code == 1 and "audit chain shard-3 broken" in result.stderr
    assert _shard_3(result)["ok"] is False and "records were removed" in _shard_3(result)["problem"]


def test_an_exported_anchor_holds_every_chains_head_and_verify_checks_each_chain_it_names(
    sharded: FakeConfigMaps, tmp_path: Path
) -> None:
    """The operator ships `anchor export` somewhere write-once; whoever can write the namespace then cuts shard-3
    and rewrites (here: deletes) its published anchor. Before, the export held the main chain's head only."""
    exported = tmp_path / "anchor.json"
    assert mlcp("audit", "anchor", "export", "--out", exported).exit_code == 0
    data = json.loads(exported.read_text(encoding="utf-8"))
    assert data["anchor"] == str(ClusterStore(sharded).head()), "an older mlcp reads the main chain's field"
    assert data["chains"]["shard-3"]["anchor"] == str(ClusterStore(sharded, "shard-3").head())  # type: ignore[arg-type]
    assert mlcp("audit", "verify", "--anchor", exported).exit_code == 0
    _cut(sharded, "shard-3", 1)
    del sharded.objects["mlcp-audit-anchor-shard-3"]
    cut = mlcp("audit", "verify", "--anchor", exported, "-o", "json")
    assert cut.exit_code == 1 and not _shard_3(cut)["ok"] and _shard_3(cut)["badSeq"] == _shard_3(cut)["count"] + 1
    for name in [n for n in sharded.objects if n.startswith("mlcp-audit-shard-3")]:
        del sharded.objects[name]
    gone = mlcp("audit", "verify", "--anchor", exported, "-o", "json")
    assert gone.exit_code == 1 and _shard_3(gone)["count"] == 0, "a chain the file names is gone"


def test_an_anchor_file_of_one_chain_still_verifies_the_main_chain(sharded: FakeConfigMaps, tmp_path: Path) -> None:
    exported = tmp_path / "old.json"
    head = str(ClusterStore(sharded).head())  # type: ignore[arg-type]
    exported.write_text(json.dumps({"anchor": head, "log": "cluster:mlcp-system", "time": "t", "writer": "w"}))
    assert mlcp("audit", "verify", "--anchor", exported).exit_code == 0
    sharded.objects["mlcp-audit-00000001"]["data"]["records.jsonl"] = ""
    assert mlcp("audit", "verify", "--anchor", exported).exit_code == 1


def test_the_export_of_an_unsharded_log_is_the_one_chain_anchor_it_always_was(
    sharded: FakeConfigMaps, tmp_path: Path
) -> None:
    for name in [n for n in sharded.objects if n.startswith(("mlcp-audit-shard-3", "mlcp-audit-anchor-shard-3"))]:
        del sharded.objects[name]
    exported = mlcp("audit", "anchor", "export")
    assert exported.exit_code == 0
    assert set(json.loads(exported.stdout)) == {"anchor", "log", "time", "writer"}


def test_the_anchors_of_shard_chains_are_said_unchecked_against_a_file_log(
    sharded: FakeConfigMaps, tmp_path: Path
) -> None:
    exported, copy = tmp_path / "anchor.json", tmp_path / "copy.jsonl"
    assert mlcp("audit", "anchor", "export", "--out", exported).exit_code == 0
    assert mlcp("audit", "export", "--out", copy).exit_code == 0
    result = mlcp("audit", "verify", "--audit-log", copy, "--anchor", exported)
    assert result.exit_code == 0 and "the anchors of chain(s) shard-3 were not checked" in result.stderr


def test_list_reads_a_shard_chain_whose_pointer_lost_its_label(sharded: FakeConfigMaps) -> None:
    del sharded.objects["mlcp-audit-shard-3"]["metadata"]["labels"][auditstore.CHAIN_LABEL]
    listed = mlcp("audit", "list", "--raw", "--chain", "shard-3", "-o", "json")
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 20, listed.output


def test_an_actor_no_signature_backs_is_shown_as_a_claim(tmp_path: Path) -> None:
    """Mallory commits as `alice@example.com`: the author field is whatever the committer typed. The log named
    alice like the verified signer of a change beside it, in `list`, `show` and the report alike."""
    log = tmp_path / "audit.jsonl"
    signed = replace(make_record(0), actors=("alice@example.com",), verified=("alice@example.com",))
    claimed = replace(make_record(1), actors=("alice@example.com",))
    JsonlStore(log).append_many([signed, claimed])
    shown = [mlcp("audit", "show", seq, "--audit-log", log).stdout for seq in ("1", "2")]
    assert "actors:   alice@example.com\n" in shown[0]
    assert "actors:   alice@example.com (claimed)\n" in shown[1]
    listed = json.loads(mlcp("audit", "list", "--audit-log", log, "-o", "json").stdout)
    assert [r.get("verified") for r in listed] == [["alice@example.com"], None]
    mlcp("audit", "report", "--html", tmp_path / "r.html", "--audit-log", log)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<td>alice@example.com (claimed)</td>" in page and "<td>alice@example.com</td>" in page


def test_an_apply_whose_lease_ended_mid_turn_appends_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The apply's Lease ran out (renewals failed) with a write in flight; the controller took the Lease back and
    started its turn. The apply's outcome, appended late, landed among the controller's runs of intents, hiding
    the earlier runs from the next turn's search for open intents. Its appends pass the Lease's fence: refused,
    the apply exits 1, and the controller's next turn closes its intent as interrupted."""
    api, leading = FakeConfigMaps(), [True]

    class Elector:
        may_write = staticmethod(lambda: leading[0])
        remaining = staticmethod(lambda: 10.0 if leading[0] else 0.0)

    @contextmanager
    def hold(*_: object) -> Iterator[Elector]:
        yield Elector()

    monkeypatch.setattr(applyturn, "hold", hold)
    monkeypatch.setattr(auditlog, "open_store", lambda *_: ClusterStore(api))  # type: ignore[arg-type]
    ref = ObjectRef("kubernetes", "v1", "ResourceQuota", "nlp", "quota")
    change = Change(ref, Action.update, "differs", "Quota/nlp/q", "nlp", None, 30, desired={"spec": {}})
    plan = Plan(changes=(change,), revision="d" * 40)
    repo = git.Repo.init(tmp_path / "config")
    (tmp_path / "config" / "mlcp.yaml").write_text("x: 1\n", encoding="utf-8")
    repo.index.add(["mlcp.yaml"])
    repo.index.commit("first", author=git.Actor("Dana", "dana@example.com"))
    backends: dict[str, Backend] = {"kubernetes": Writes()}
    with (
        pytest.raises(typer.Exit) as stopped,
        auditlog.turn(None, Targets(), plan, tmp_path / "config", backends) as turn,
    ):
        turn.journal.intend([change], [])
        leading[0] = False
        turn.journal.record([Outcome(change, Status.applied)])
    assert stopped.value.exit_code == 1
    assert [r.result for r in ClusterStore(api).records()] == [Result.pending], "no outcome after the Lease"  # type: ignore[arg-type]
    said = " ".join(capsys.readouterr().err.split())
    assert "no longer holds the Lease" in said and "writes were stopped" in said
