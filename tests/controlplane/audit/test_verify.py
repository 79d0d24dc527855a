"""Verify names the first record that was edited, dropped, inserted or moved; property-tested over random logs."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.audit import GENESIS, Head, verify_file, verify_lines
from controlplane.audit.chain import HASH_MARKER, leaf_hash, link_hash, read, seal
from controlplane.audit.records import canonical_json
from tests.controlplane.audit.conftest import make_record


def _lines(count: int, offset: int = 0) -> list[bytes]:
    prev, out = GENESIS, []
    for seq in range(1, count + 1):
        record, line = seal(make_record(seq + offset), seq, prev)
        prev = record.hash
        out.append(line)
    return out


def _split(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _first_difference(original: list[bytes], tampered: list[bytes]) -> int:
    """The 1-based place of the first line that is not the original one (the record verify must name)."""
    for place, (was, now) in enumerate(zip(original, tampered, strict=False), start=1):
        if was != now:
            return place
    return min(len(original), len(tampered)) + 1


sizes = st.integers(min_value=1, max_value=25)


def test_an_intact_log_verifies_and_reports_its_head() -> None:
    lines = _lines(10)
    result = verify_lines(lines)
    assert result.ok and result.count == 10
    assert result.head is not None and result.head.seq == 10
    assert verify_lines(lines, anchor=result.head).ok
    assert verify_lines([]).ok and verify_lines([]).head is None


@settings(max_examples=300, deadline=None)
@given(size=sizes, data=st.data())
def test_flipping_any_single_byte_fails_at_that_record(size: int, data: st.DataObject) -> None:
    lines = _lines(size)
    index = data.draw(st.integers(0, size - 1), label="record")
    at = data.draw(st.integers(0, len(lines[index]) - 1), label="byte")
    xor = data.draw(st.integers(1, 255), label="xor")
    line = bytearray(lines[index])
    line[at] ^= xor
    tampered = b"".join(lines[:index]) + bytes(line) + b"".join(lines[index + 1 :])
    result = verify_lines(_split(tampered))
    assert not result.ok
    assert result.bad_seq == index + 1, result.problem


@settings(max_examples=200, deadline=None)
@given(size=st.integers(2, 25), data=st.data())
def test_deleting_a_record_fails_at_its_place(size: int, data: st.DataObject) -> None:
    lines = _lines(size)
    anchor = verify_lines(lines).head
    index = data.draw(st.integers(0, size - 1))
    result = verify_lines(lines[:index] + lines[index + 1 :], anchor=anchor)
    assert result.bad_seq == index + 1, result.problem


@settings(max_examples=200, deadline=None)
@given(size=sizes, data=st.data())
def test_inserting_a_record_fails_at_the_inserted_place(size: int, data: st.DataObject) -> None:
    lines = _lines(size)
    # Another log's records with the same seq numbers. Not its first: a valid genesis record is a valid start
    # for any log, and putting one first is starting a different log, which only an anchor tells apart.
    foreign = _lines(size + 1, offset=1000)[1:]
    extra = data.draw(st.sampled_from(lines + foreign))
    index = data.draw(st.integers(0, size))
    tampered = [*lines[:index], extra, *lines[index:]]
    result = verify_lines(tampered)
    assert result.bad_seq == _first_difference(lines, tampered), result.problem


@settings(max_examples=200, deadline=None)
@given(size=st.integers(2, 25), data=st.data())
def test_swapping_two_records_fails_at_the_first_of_them(size: int, data: st.DataObject) -> None:
    lines = _lines(size)
    i, j = sorted(data.draw(st.lists(st.integers(0, size - 1), min_size=2, max_size=2, unique=True)))
    lines[i], lines[j] = lines[j], lines[i]
    result = verify_lines(lines)
    assert result.bad_seq == i + 1, result.problem


def test_cutting_records_off_the_end_is_caught_only_with_an_anchor() -> None:
    lines = _lines(6)
    anchor = verify_lines(lines).head
    assert verify_lines(lines[:4]).ok
    result = verify_lines(lines[:4], anchor=anchor)
    assert result.bad_seq == 5 and "records were removed" in result.problem


def test_a_rewritten_chain_is_caught_by_the_anchor() -> None:
    original = _lines(5)
    forged = _lines(5, offset=7)  # a consistent chain, but not the one that was anchored
    anchor = verify_lines(original).head
    assert verify_lines(forged).ok
    result = verify_lines(forged, anchor=anchor)
    assert result.bad_seq == 5 and "anchor" in result.problem
    assert anchor is not None and not verify_lines(forged, anchor=Head(3, anchor.hash)).ok


def test_problems_say_what_happened() -> None:
    lines = _lines(4)
    assert "reordered" in verify_lines([lines[0], lines[2]]).problem
    edited = lines[1].replace(b"img:", b"IMG:")
    assert "edited" in verify_lines([lines[0], edited]).problem
    assert "incomplete" in verify_lines([lines[0], lines[1][:-1]]).problem


def test_verify_file_reads_the_stored_bytes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"".join(_lines(3)))
    assert verify_file(path).count == 3


def _forge(prev: str, seq: int, body: bytes) -> tuple[str, bytes]:
    """A line anyone who can write the log seals (the hashes are public) after record `seq - 1`."""
    full = b'{"seq":%d,"prev":"%s",' % (seq, prev.encode()) + body
    hash_ = link_hash(prev, leaf_hash(full))
    return hash_, full[:-1] + HASH_MARKER + hash_.encode() + b'"}\n'


def test_a_sealed_line_no_reader_takes_breaks_the_chain_where_it_is() -> None:
    """Mallory seals a record that holds `actors` twice: mlcp's readers refuse it (a JSON tool reading the first
    sees mallory, one reading the last sees alice), and `verify` said the chain intact, so the head an operator
    ships as an anchor covered it. Verify reads each line as the readers do and names it."""
    lines = _lines(3)
    good = read(lines[2])
    content = canonical_json(make_record(9).content()).replace(
        b'"actors":[', b'"actors":["mallory@example.com"],"actors":['
    )
    hash_, forged = _forge(good.hash, 4, content[1:])
    _, after = _forge(hash_, 5, canonical_json(make_record(10).content())[1:])
    result = verify_lines([*lines, forged, after])
    assert (result.ok, result.count, result.bad_seq) == (False, 3, 4), result
    assert result.head == Head(3, good.hash) and "not an audit record as mlcp writes it" in result.problem
    assert "form mlcp writes" in result.problem
    anchored = verify_lines([*lines, forged, after], anchor=Head(5, hash_))
    assert anchored.bad_seq == 4, "an anchor past it does not make it a record"


def test_a_forged_lines_huge_value_is_not_quoted_whole() -> None:
    """Mallory seals a record whose `decision` is a megabyte of text: the reader refuses it quoting the value
    (`'…' is not a valid Verdict`), and verify's problem, the readers' error and their JSON carried all of it.
    The reason is quoted up to its bound, saying how much was left out."""
    lines = _lines(1)
    content = canonical_json(make_record(2).content()).replace(
        b'"decision":"allow"', b'"decision":"' + b"x" * 2**20 + b'"'
    )
    assert len(content) > 2**20, "the record's decision was replaced"
    _, forged = _forge(read(lines[0]).hash, 2, content[1:])
    result = verify_lines([*lines, forged])
    assert (result.ok, result.bad_seq) == (False, 2), result
    assert "not an audit record as mlcp writes it" in result.problem and "more characters" in result.problem
    assert len(result.problem) < 1000, len(result.problem)
