"""Verifying a log: recompute the chain from the stored bytes and name the first record that breaks it.

Record n must sit on line n, start with `{"seq":n,"prev":"<hash of line n-1>",`
and end with the hash of its own bytes linked to that previous hash (see
`chain`). Editing a byte, dropping, inserting or reordering lines therefore
breaks the chain at the first line that differs, and that is the sequence
number reported. Removing records from the *end* leaves a shorter, valid chain:
only an anchor (a `seq:hash` pair kept somewhere else, e.g. published after
each apply) catches that, and rewriting the whole chain from some point on.

The loop hashes bytes as stored with `hashlib`, never re-serializing. Each line
whose hash holds is then read as every reader reads it (`chain.read`: the one
form mlcp writes, the types it writes): anyone can compute the hashes, so a
line can verify and still be no record (a key twice, which JSON tools read
differently). Before, verify said such a log intact while every reader refused
it, and an anchor published from it covered a record no one could show.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from controlplane.audit.chain import GENESIS, HASH_MARKER, LINE_START, MAX_LINE_BYTES, SUFFIX_LEN, Head, read
from controlplane.audit.records import AuditError


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


def _diagnose(line: bytes, seq: int, prev: bytes) -> str:
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


def verify_lines(lines: Iterable[bytes], anchor: Head | None = None) -> Verification:
    """Check every line in order; stop at the first that breaks the chain."""
    sha256 = hashlib.sha256
    prev_hex = GENESIS.encode("ascii")
    prev_raw = bytes(32)
    seq = 0
    anchor_seq, anchor_hash = (anchor.seq, anchor.hash.encode("ascii")) if anchor else (0, b"")
    for line in lines:
        seq += 1
        if not line.startswith(b'{"seq":%d,"prev":"%s",' % (seq, prev_hex)):
            return Verification(seq - 1, _head(seq - 1, prev_hex), seq, _diagnose(line, seq, prev_hex))
        link = sha256(b"\x01" + prev_raw + sha256(b"\x00" + line[:-SUFFIX_LEN] + b"}").digest()).digest()
        stored = link.hex().encode("ascii")
        if line[-SUFFIX_LEN:] != HASH_MARKER + stored + b'"}\n':  # every byte after the body, hash included
            return Verification(seq - 1, _head(seq - 1, prev_hex), seq, _diagnose(line, seq, prev_hex))
        try:
            read(line)
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
            problem = f"the record is sealed but not an audit record as mlcp writes it ({type(exc).__name__}: {exc})"
            return Verification(seq - 1, _head(seq - 1, prev_hex), seq, problem)
        prev_hex, prev_raw = stored, link
        if seq == anchor_seq and stored != anchor_hash:
            return Verification(seq - 1, None, seq, f"record {seq} does not match the anchor: the log was rewritten")
    if anchor_seq > seq:
        problem = f"the log ends at record {seq} but the anchor is record {anchor_seq}: records were removed"
        return Verification(seq, _head(seq, prev_hex), seq + 1, problem)
    return Verification(seq, _head(seq, prev_hex))


def _head(seq: int, hash_: bytes) -> Head | None:
    return Head(seq, hash_.decode("ascii")) if seq else None


def verify_file(path: Path, anchor: Head | None = None) -> Verification:
    """Verify the log at `path`: a missing file is an error, an empty one an intact, empty chain."""
    try:
        with path.open("rb") as stream:
            return verify_lines(_lines(stream), anchor)
    except FileNotFoundError:
        raise AuditError(f"{path}: no audit log here", "pass --audit-log PATH or set MLCP_AUDIT_LOG") from None
    except OSError as exc:
        raise AuditError(
            f"{path}: cannot read the audit log: {exc.strerror}",
            "pass the log's file with --audit-log or MLCP_AUDIT_LOG",
        ) from None


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    """The file's lines, none read beyond `MAX_LINE_BYTES` (+1: a longer one is cut there, breaks the chain, and
    ends the reading), so a line of gigabytes costs bounded memory."""
    while line := stream.readline(MAX_LINE_BYTES + 1):
        yield line
        if len(line) > MAX_LINE_BYTES:
            return
