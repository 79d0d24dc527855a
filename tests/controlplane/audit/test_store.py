"""The JSON Lines store: durable across restarts, one writer at a time, damage reported, not papered over."""

from __future__ import annotations

import fcntl
import json
import os
import re
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest

from controlplane.audit import (
    GENESIS,
    Anchor,
    AnchorSet,
    AuditError,
    Head,
    JsonlStore,
    default_path,
    fitting,
    verify_file,
)
from controlplane.audit.chain import MAX_LINE_BYTES
from tests.controlplane.audit.conftest import make_record, write_log


def test_append_assigns_seq_and_chains_prev(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "deep" / "dir" / "audit.jsonl")
    first = store.append(make_record(0))
    second, third = store.append_many([make_record(1), make_record(2)])
    assert (first.seq, second.seq, third.seq) == (1, 2, 3)
    assert first.prev == GENESIS and second.prev == first.hash and third.prev == second.hash
    assert [r.seq for r in store.records()] == [1, 2, 3]
    assert store.get(2) == second and store.get(4) is None and store.get(0) is None


def test_a_new_store_on_the_same_file_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 5)
    reopened = JsonlStore(path)
    head = reopened.head()
    assert head is not None and head.seq == 5
    appended = reopened.append(make_record(5))
    assert appended.seq == 6 and appended.prev == head.hash
    assert reopened.verify().ok and reopened.verify().count == 6


def test_a_crash_truncated_last_line_is_reported_with_the_offset_to_cut(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 3)
    intact = path.stat().st_size
    with path.open("ab") as stream:
        stream.write(b'{"seq":4,"prev":"abc')
    store = JsonlStore(path)
    with pytest.raises(AuditError, match=r"audit.jsonl:4: the last line is incomplete") as caught:
        store.head()
    assert f"truncate -s {intact} " in caught.value.hint
    with pytest.raises(AuditError, match="incomplete"):
        store.append(make_record(9))
    assert path.stat().st_size > intact  # nothing appended after the damage, nothing silently cut
    verification = store.verify()
    assert verification.bad_seq == 4 and "cut off" in verification.problem


def test_a_corrupt_line_is_named_when_reading(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = b"{not json\n"
    path.write_bytes(b"".join(lines))
    with pytest.raises(AuditError, match=r"audit.jsonl:2: not an audit record"):
        list(JsonlStore(path).records())


def test_an_empty_or_missing_log_has_no_head(tmp_path: Path) -> None:
    assert JsonlStore(tmp_path / "none.jsonl").head() is None
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert JsonlStore(tmp_path / "empty.jsonl").head() is None
    with pytest.raises(AuditError, match="no audit log here"):
        list(JsonlStore(tmp_path / "none.jsonl").records())


def test_a_directory_as_the_log_is_an_audit_error_for_every_reader(tmp_path: Path) -> None:
    """It raised IsADirectoryError (from open, or from the first read of the head)."""
    store = JsonlStore(tmp_path)
    for read in (store.head, lambda: list(store.records()), lambda: list(store.tail()), lambda: store.get(1)):
        with pytest.raises(AuditError, match="cannot read the audit log: Is a directory"):
            read()


def test_a_long_last_record_is_found_by_reading_backwards(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    store = write_log(path, 2)
    sealed = store.append(replace(make_record(3), error="x" * 200_000))
    head = JsonlStore(path).head()
    assert head is not None and head.seq == 3 and head.hash == sealed.hash


def test_a_writer_waits_for_the_lock_and_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 1)
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(AuditError, match="another process has held the audit log's lock"):
            JsonlStore(path, lock_timeout=0.1).append(make_record(1))
    finally:
        os.close(fd)
    assert JsonlStore(path).append(make_record(1)).seq == 2


def test_records_are_written_as_the_documented_json(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 1)
    data = json.loads(path.read_bytes())
    assert set(data) >= {"seq", "prev", "time", "actors", "commit", "specPath", "spec", "tenant", "target", "action"}
    assert set(data) >= {"decision", "rule", "before", "after", "result", "error", "diff", "hash"}


def test_default_path_is_under_the_config_repo(tmp_path: Path) -> None:
    assert default_path(tmp_path) == tmp_path / ".mlcp" / "audit.jsonl"


def test_the_tail_reads_records_newest_first_across_read_blocks(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "audit.jsonl")
    big = {"field": "", "old": None, "new": "x" * 50_000}  # records larger than half a read block
    store.append_many([replace(make_record(i), diff=(big,) if i % 3 == 0 else ()) for i in range(12)])
    assert [r.seq for r in store.tail()] == list(range(12, 0, -1))
    assert [r.spec for r in store.tail()] == [r.spec for r in reversed(list(store.records()))]
    assert list(JsonlStore(tmp_path / "none.jsonl").tail()) == []


def test_a_turn_holds_the_lock_until_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    store = JsonlStore(path)
    with store.exclusive():
        store.append(make_record(0))  # re-entrant: the turn's own appends reuse its lock
        other = os.open(path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    assert store.verify().ok and store.location == f"file:{path}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("12:" + "a" * 64, None),
        ('{"anchor": "12:' + "a" * 64 + '", "log": "cluster:mlcp-system", "time": "t", "writer": "w"}', None),
        ('{"log": "cluster:x"}', "no `anchor` field"),
        ("[1, 2]", "is not an anchor"),
        ('{"anchor": "twelve"}', "is not an anchor"),
        ("{oops", "not an exported anchor"),
    ],
)
def test_anchors_parse_from_a_head_or_an_export_and_name_the_file_when_they_do_not(
    text: str, problem: str | None
) -> None:
    if problem is None:
        anchor = Anchor.parse(text, "anchor.json")
        assert anchor.head == Head(12, "a" * 64)
        assert Anchor.parse(json.dumps(anchor.to_data()), "copy") == anchor
        return
    with pytest.raises(AuditError, match=problem) as caught:
        Anchor.parse(text, "anchor.json")
    assert str(caught.value).startswith("anchor.json: ")


@pytest.mark.parametrize("seq", ["\u00b2", "1" * 5000])
def test_an_anchor_published_with_a_malformed_seq_is_a_clear_error(seq: str) -> None:
    """reconciler.anchors.read hands the cluster's ConfigMap data to `from_data`."""
    with pytest.raises(AuditError, match=r"^ConfigMap mlcp-system/mlcp-audit-anchor: .* is not an anchor"):
        Anchor.from_data({"anchor": f"{seq}:{'a' * 64}"}, "ConfigMap mlcp-system/mlcp-audit-anchor")


def test_a_last_line_whose_seq_is_no_number_python_reads_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 2)
    line = path.read_bytes().splitlines(keepends=True)[-1]
    path.write_bytes(path.read_bytes() + line.replace(b'{"seq":2,', b'{"seq":' + b"9" * 5000 + b",", 1))
    with pytest.raises(AuditError, match="the last line is not a sealed audit record"):
        JsonlStore(path).head()
    result = JsonlStore(path).verify()
    assert (result.ok, result.bad_seq) == (False, 3) and "does not start with its sequence number" in result.problem


def test_an_anchor_set_holds_every_chains_anchor_and_reads_back_an_older_export_of_one() -> None:
    main, shard = Anchor(Head(12, "a" * 64), "cluster:x"), Anchor(Head(40, "b" * 64), "cluster:x/shard-3")
    text = json.dumps(AnchorSet(main, {"shard-3": shard}).to_data())
    assert AnchorSet.parse(text, "anchor.json") == AnchorSet(main, {"shard-3": shard})
    assert Anchor.parse(text, "anchor.json") == main, "the main chain's fields stay where one chain's were"
    assert AnchorSet.parse(json.dumps(main.to_data()), "old.json") == AnchorSet(main)
    assert AnchorSet(main).to_data() == main.to_data(), "an unsharded export is what it always was"


@pytest.mark.parametrize(
    ("chains", "problem"),
    [
        ('["shard-3"]', "`chains` is not an object of anchors"),
        ('{"shard-3": "40:' + "b" * 64 + '"}', "`chains` is not an object of anchors"),
        ('{"../../x": {"anchor": "40:' + "b" * 64 + '"}}', "is not a chain's name"),
        ('{"main": {"anchor": "40:' + "b" * 64 + '"}}', "is not a chain's name"),
        ('{"shard-3": {"anchor": "forty"}}', "anchor.json, chain shard-3: 'forty' is not an anchor"),
    ],
)
def test_an_anchor_set_names_what_is_wrong_with_its_chains(chains: str, problem: str) -> None:
    text = '{"anchor": "12:' + "a" * 64 + '", "chains": ' + chains + "}"
    with pytest.raises(AuditError, match=re.escape(problem)):
        AnchorSet.parse(text, "anchor.json")


def _peak(read: object) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(AuditError, match="longer than any record mlcp writes"):
            read()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("ending", [b"\n", b""], ids=["a-whole-line", "no-newline"])
def test_a_line_of_gigabytes_is_a_clear_error_read_in_bounded_memory(tmp_path: Path, ending: bytes) -> None:
    """Whoever can write the file log can add a line of any length: every reader read it whole (300 MB took a
    gigabyte of memory to list or verify, a few more gigabytes and the controller's pass was killed)."""
    store = write_log(tmp_path / "audit.jsonl", 2)
    with store.path.open("ab") as log:
        log.write(b'{"seq":3,' + b" " * (6 * MAX_LINE_BYTES) + ending)
    bound = 3 * MAX_LINE_BYTES  # the line is twice as long: reading it whole takes more
    assert _peak(lambda: list(store.records())) < bound
    assert _peak(lambda: list(store.raw_lines())) < bound
    if ending:
        assert _peak(store.head) < bound  # the loop's check before its turn, and every append
        assert _peak(lambda: store.append(make_record(3))) < bound
    result = verify_file(store.path)
    assert (result.count, result.bad_seq) == (2, 3) and "longer than any record" in result.problem


def test_a_record_longer_than_a_reader_takes_is_written_without_its_diff(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "audit.jsonl")
    huge = replace(make_record(0), diff=({"field": "", "old": None, "new": "x" * MAX_LINE_BYTES},))
    store.append(huge)
    [stored] = store.records()
    assert [entry["field"] for entry in stored.diff] == [fitting.OMITTED] and stored.after == huge.after
    too_long = replace(make_record(1), actors=("x" * MAX_LINE_BYTES,))  # nothing left to leave out
    with pytest.raises(AuditError, match="does not fit the log"):
        store.append(too_long)
    assert store.head() == Head(1, stored.hash) and store.verify().ok
