"""What verify says about one line: the outcome type and the per-line checks both walks of the chain share.

`verify` walks a log in one process (`verify_lines`, small logs) or hashes it in one while other processes read
its lines (`parallelverify`, big files). Both must name the same first bad record with the same words, so the
outcome, the diagnosis of a broken link and the form check live here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.audit.chain import HASH_MARKER, LINE_START, MAX_LINE_BYTES, SUFFIX_LEN, Head, read, refused_because


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome: intact (with the head to publish as an anchor) or the first bad record and why."""

    count: int
    head: Head | None
    bad_seq: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_seq is None


def form_problem(line: bytes) -> str | None:
    """Why a line whose hash holds is still no record a reader takes (`chain.read`, the one reader), or None."""
    try:
        read(line)
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
        return f"the record is sealed but not an audit record as mlcp writes it ({refused_because(exc)})"
    return None


def form_failure(seq: int, prev_hex: bytes, problem: str) -> Verification:
    """Line `seq` is no record; `prev_hex` is the hash of the line before it (the head to report)."""
    return Verification(seq - 1, head(seq - 1, prev_hex), seq, problem)


def link_failure(line: bytes, seq: int, prev_hex: bytes) -> Verification:
    """Line `seq` does not continue the chain after `prev_hex`."""
    return Verification(seq - 1, head(seq - 1, prev_hex), seq, diagnose(line, seq, prev_hex))


def anchor_failure(seq: int) -> Verification:
    return Verification(seq - 1, None, seq, f"record {seq} does not match the anchor: the log was rewritten")


def diagnose(line: bytes, seq: int, prev: bytes) -> str:
    """Why line `seq` does not continue the chain (called once, on the failure path)."""
    if len(line) > MAX_LINE_BYTES:
        return f"the line is longer than any record mlcp writes ({MAX_LINE_BYTES} bytes): it is no record"
    if not line.endswith(b"\n"):
        return "the last line is incomplete (no newline): an append was cut off, e.g. by a crash"
    if len(line) <= SUFFIX_LEN or line[-SUFFIX_LEN:-67] != HASH_MARKER or not line.endswith(b'"}\n'):
        return "the line is not a sealed audit record (it does not end with its hash)"
    start = LINE_START.match(line)
    if start is None:
        return "the line does not start with its sequence number and previous hash"
    found = int(start.group(1))
    if found != seq:
        return f"found record {found} where record {seq} belongs: records were removed, inserted or reordered"
    if start.group(2) != prev:
        return "its previous-record hash does not match record " + str(seq - 1) + ": the chain was rewritten"
    return "its hash does not match its content: the record was edited"


def end(seq: int, prev_hex: bytes, anchor_seq: int) -> Verification:
    """The outcome of a walk that reached the end of the log at record `seq` with nothing broken."""
    if anchor_seq > seq:
        problem = f"the log ends at record {seq} but the anchor is record {anchor_seq}: records were removed"
        return Verification(seq, head(seq, prev_hex), seq + 1, problem)
    return Verification(seq, head(seq, prev_hex))


def head(seq: int, hash_: bytes) -> Head | None:
    return Head(seq, hash_.decode("ascii")) if seq else None
