"""A big log's lines read on other CPUs: the outcome must be the one verifying in one process gives.

Each case is a log an attacker (anyone who can write the file: the hashes are public) could leave, verified both
ways with chunks of 3 lines, so failures fall on a chunk's first, middle and last line, early and late.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.audit import GENESIS, Head, parallelverify, readworker, verify, verify_lines
from controlplane.audit.chain import HASH_MARKER, leaf_hash, link_hash, seal
from controlplane.audit.records import canonical_json
from tests.controlplane.audit.conftest import make_record

COUNT = 14


def _chain(bodies: list[bytes]) -> tuple[list[bytes], list[str]]:
    """Lines sealing each body (the record's JSON without its opening brace) after the one before, and their hashes."""
    prev, lines, hashes = GENESIS, [], []
    for seq, body in enumerate(bodies, start=1):
        full = b'{"seq":%d,"prev":"%s",' % (seq, prev.encode()) + body
        prev = link_hash(prev, leaf_hash(full))
        lines.append(full[:-1] + HASH_MARKER + prev.encode() + b'"}\n')
        hashes.append(prev)
    return lines, hashes


def _body(i: int) -> bytes:
    return canonical_json(make_record(i).content())[1:]


def _twice(i: int) -> bytes:
    """A record that holds `actors` twice: sealed, and no reader takes it."""
    return _body(i).replace(b'"actors":[', b'"actors":["mallory@example.com"],"actors":[')


def _log(bad: dict[int, bytes]) -> tuple[list[bytes], list[str]]:
    return _chain([bad.get(seq, _body(seq)) for seq in range(1, COUNT + 1)])


def _both(lines: list[bytes], anchor: Head | None = None) -> None:
    one = verify_lines(lines, anchor)
    many = parallelverify.verify_lines(iter(lines), anchor, 2, chunk_lines=3)
    assert many == one


def _edited(lines: list[bytes], seq: int) -> list[bytes]:
    return [line.replace(b"img:", b"IMG:") if place == seq else line for place, line in enumerate(lines, start=1)]


@pytest.mark.parametrize("seq", [1, 3, 4, 8, COUNT])
def test_a_line_no_reader_takes_is_named_wherever_it_falls(seq: int) -> None:
    _both(_log({seq: _twice(seq)})[0])


def test_an_intact_log_gives_the_same_head_and_count() -> None:
    lines, hashes = _log({})
    _both(lines)
    _both(lines, Head(COUNT, hashes[-1]))
    _both(lines, Head(5, hashes[4]))
    _both([])


@pytest.mark.parametrize(("broken", "unreadable"), [(3, 8), (5, 5), (6, 4)])
def test_the_lower_of_a_broken_link_and_an_unreadable_line_is_named(broken: int, unreadable: int) -> None:
    lines, _ = _log({unreadable: _twice(unreadable)})
    _both(_edited(lines, broken))
    _both([*lines[: broken - 1], *lines[broken:]])  # a record dropped


def test_an_anchor_mismatch_before_or_at_an_unreadable_line() -> None:
    """At one seq the line is read before its anchor is compared: a line no reader takes is named first."""
    lines, _ = _log({6: _twice(6)})
    wrong = link_hash(GENESIS, leaf_hash(b"{}"))
    for seq in (4, 6):
        _both(lines, Head(seq, wrong))


def test_an_anchor_mismatch_and_an_anchor_past_the_end() -> None:
    lines, _ = _log({})
    other, _ = _chain([_body(seq + 100) for seq in range(1, COUNT + 1)])
    _both(lines, Head(1, link_hash(GENESIS, leaf_hash(b"{}"))))
    _both(other, Head(COUNT, "f" * 64))
    _both(lines, Head(COUNT + 3, "f" * 64))


@pytest.mark.parametrize("unreadable", [None, COUNT - 1])
def test_a_truncated_last_line(unreadable: int | None) -> None:
    lines, _ = _log({unreadable: _twice(unreadable)} if unreadable else {})
    _both([*lines[:-1], lines[-1][:-20]])
    _both([*lines[:-1], lines[-1][:-1]])


def test_a_carriage_return_in_a_line_keeps_every_other_line_in_its_place() -> None:
    """A raw CR is no newline to `readline`: the chunk must split where the file's lines end, and nowhere else,
    or the line after it would be read under the wrong seq."""
    lines, _ = _log({5: _body(5).replace(b'"action":', b'"action":\r'), 6: _twice(6)})
    _both(lines)


def test_a_big_file_is_verified_on_other_cpus_with_the_same_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, _ = _log({9: _twice(9)})
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"".join(lines))
    one = verify.verify_file(path)
    calls: list[int] = []
    real = parallelverify.verify_lines

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(verify, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(verify, "_spare_cpus", lambda: 2)
    monkeypatch.setattr(parallelverify, "verify_lines", counted)
    assert verify.verify_file(path) == one and one.bad_seq == 9
    assert calls == [1]


def test_when_no_worker_can_start_the_file_is_verified_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, _ = _log({9: _twice(9)})
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"".join(lines))

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError("no processes")

    monkeypatch.setattr(verify, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(verify, "_spare_cpus", lambda: 2)
    monkeypatch.setattr(parallelverify.subprocess, "Popen", refused)
    assert verify.verify_file(path) == verify_lines(lines)


def test_the_lines_of_these_tests_are_the_ones_seal_writes() -> None:
    """The lines of these tests are the records `seal` writes (so the cases above differ only where they say)."""
    sealed, line = seal(make_record(1), 1, GENESIS)
    assert _chain([_body(1)]) == ([line], [sealed.hash])


def test_a_worker_that_dies_mid_chunk_leaves_the_answer_to_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed while a chunk is half written to it (its pipe full): no traceback, None, and the caller's one
    process gives the answer."""
    lines, _ = _log({})
    written: list[int] = []

    def half(stream: object, data: bytes) -> None:
        if written:
            stream.write(data[:100])  # type: ignore[attr-defined]  # buffered, never flushed: the worker is gone
            raise BrokenPipeError(32, "Broken pipe")
        written.append(len(data))
        readworker.write_frame(stream, data)  # type: ignore[arg-type]

    monkeypatch.setattr(parallelverify.readworker, "write_frame", half)
    assert parallelverify.verify_lines(iter(lines), None, 1, chunk_lines=3) is None
