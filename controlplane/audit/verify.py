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

Reading costs about five times the hashing, so a big file (`PARALLEL_BYTES`) on a machine with more than one
CPU is read by other processes while this one hashes (`parallelverify`); the outcome is the same.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from controlplane.audit import parallelverify
from controlplane.audit.chain import GENESIS, HASH_MARKER, MAX_LINE_BYTES, SUFFIX_LEN, Head
from controlplane.audit.linecheck import (
    Verification,
    anchor_failure,
    end,
    form_failure,
    form_problem,
    link_failure,
)
from controlplane.audit.records import AuditError

__all__ = ["PARALLEL_BYTES", "Verification", "verify_file", "verify_lines"]

PARALLEL_BYTES = 32 * 1024 * 1024
"""From this size on (~35,000 records) a file's lines are read on the other CPUs: below it, starting the
processes (~0.2 s) costs more than it saves."""


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
            return link_failure(line, seq, prev_hex)
        link = sha256(b"\x01" + prev_raw + sha256(b"\x00" + line[:-SUFFIX_LEN] + b"}").digest()).digest()
        stored = link.hex().encode("ascii")
        if line[-SUFFIX_LEN:] != HASH_MARKER + stored + b'"}\n':  # every byte after the body, hash included
            return link_failure(line, seq, prev_hex)
        problem = form_problem(line)
        if problem is not None:
            return form_failure(seq, prev_hex, problem)
        prev_hex, prev_raw = stored, link
        if seq == anchor_seq and stored != anchor_hash:
            return anchor_failure(seq)
    return end(seq, prev_hex, anchor_seq)


def verify_file(path: Path, anchor: Head | None = None) -> Verification:
    """Verify the log at `path`: a missing file is an error, an empty one an intact, empty chain."""
    try:
        with path.open("rb") as stream:
            workers = _spare_cpus()
            if workers > 1 and os.fstat(stream.fileno()).st_size >= PARALLEL_BYTES:
                found = parallelverify.verify_lines(_lines(stream), anchor, workers)
                if found is not None:
                    return found
                stream.seek(0)  # the worker processes could not start or died: the same check, in this one
            return verify_lines(_lines(stream), anchor)
    except FileNotFoundError:
        raise AuditError(f"{path}: no audit log here", "pass --audit-log PATH or set MLCP_AUDIT_LOG") from None
    except OSError as exc:
        raise AuditError(
            f"{path}: cannot read the audit log: {exc.strerror}",
            "pass the log's file with --audit-log or MLCP_AUDIT_LOG",
        ) from None


def _spare_cpus() -> int:
    """The CPUs this process may run on (its affinity, as a container's cpuset sets it), at most 4: beyond that
    the one hashing process is the bound."""
    try:
        return min(len(os.sched_getaffinity(0)), 4)
    except (AttributeError, OSError):  # no affinity on this platform
        return min(os.cpu_count() or 1, 4)


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    """The file's lines, none read beyond `MAX_LINE_BYTES` (+1: a longer one is cut there, breaks the chain, and
    ends the reading), so a line of gigabytes costs bounded memory."""
    while line := stream.readline(MAX_LINE_BYTES + 1):
        yield line
        if len(line) > MAX_LINE_BYTES:
            return
