"""Verifying a big log on several CPUs: this process hashes the chain in order while others read its lines.

Reading a line as the readers do (`chain.read`: a JSON parse, the exact types, the one form mlcp writes) costs
about five times hashing it, and each line's reading depends on nothing else, while the chain's hashes must be
taken one after another. So this process keeps the hashing (the same steps as `verify.verify_lines`) and hands
the lines whose hash holds, in chunks, to a few processes that read them (`readworker`, `linecheck.form_problem`).

The outcome is the one `verify_lines` gives: the lowest seq among a broken link, a line no reader takes and an
anchor mismatch, with the same count, head and problem. Chunks are settled in order, so the first failure a
chunk reports is the lowest form failure; at one seq a broken link comes first (such a line is never read) and a
line no reader takes before its anchor mismatch (it is read first), as in `verify_lines`.

Memory stays bounded: a chunk ends at `CHUNK_LINES` lines or `CHUNK_BYTES` bytes (plus one line of at most
`MAX_LINE_BYTES`), and at most one chunk per worker, plus the one being filled, is held.

The workers are `readworker` processes of this Python with this process's module path, started afresh (see
there why not through `multiprocessing`). Each has at most one chunk at a time, and chunks go to them in turn, so
their answers come back in order and neither side can block the other on a full pipe. If one cannot start or
dies, the result is None and the caller verifies in one process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import IO, NamedTuple

from controlplane.audit import readworker
from controlplane.audit.chain import GENESIS, HASH_MARKER, SUFFIX_LEN, Head
from controlplane.audit.linecheck import Verification, anchor_failure, end, form_failure, link_failure

CHUNK_LINES = 2_000
"""Lines a worker reads at a time: ~25 ms of work, so passing them costs little beside it."""
CHUNK_BYTES = 8 * 1024 * 1024
"""And at most this many bytes (plus the line that passes it), whatever the lines' length."""
_START = "import json, sys; sys.path[:] = json.loads(sys.argv[1]); import controlplane.audit.readworker as w; w.main()"


class _Gone(Exception):
    """A worker ended or stopped answering."""


class _Worker(NamedTuple):
    """A `readworker` process and its pipes."""

    process: subprocess.Popen[bytes]
    into: IO[bytes]
    out: IO[bytes]

    @classmethod
    def start(cls, path: str) -> _Worker:
        process = subprocess.Popen(  # this Python, our own module, this process's module path
            [sys.executable, "-I", "-c", _START, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        if process.stdin is None or process.stdout is None:  # never: both are pipes
            raise _Gone
        return cls(process, process.stdin, process.stdout)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.into, self.out):
            with contextlib.suppress(OSError):  # a chunk left half written to a worker that is gone
                stream.close()


class _Chunk(NamedTuple):
    """Lines a worker has: the seq of the first, and the hash before each (the head a failure reports)."""

    first_seq: int
    prevs: list[bytes]
    worker: _Worker


def verify_lines(
    lines: Iterable[bytes], anchor: Head | None, workers: int, *, chunk_lines: int = CHUNK_LINES
) -> Verification | None:
    """`verify.verify_lines`'s outcome, the lines read by `workers` processes; None if they failed."""
    started: list[_Worker] = []
    try:
        path = json.dumps([entry or str(Path.cwd()) for entry in sys.path])
        started.extend(_Worker.start(path) for _ in range(workers))
        return _walk(lines, anchor, started, chunk_lines)
    except (_Gone, OSError, ValueError):  # ValueError: no interpreter to start (an embedded Python)
        return None
    finally:
        for worker in started:
            worker.stop()


def _walk(lines: Iterable[bytes], anchor: Head | None, workers: list[_Worker], chunk_lines: int) -> Verification:
    sha256 = hashlib.sha256
    prev_hex = GENESIS.encode("ascii")
    prev_raw = bytes(32)
    seq = 0
    anchor_seq, anchor_hash = (anchor.seq, anchor.hash.encode("ascii")) if anchor else (0, b"")
    sent: deque[_Chunk] = deque()
    chunk: list[bytes] = []  # the lines, each ending in its one newline (a line that does not breaks the chain)
    prevs: list[bytes] = []  # the hash before each of them
    size = 0
    first = 1  # the seq of the chunk's first line
    stop: Verification | None = None
    for line in lines:
        seq += 1
        if not line.startswith(b'{"seq":%d,"prev":"%s",' % (seq, prev_hex)):
            stop = link_failure(line, seq, prev_hex)
            break
        link = sha256(b"\x01" + prev_raw + sha256(b"\x00" + line[:-SUFFIX_LEN] + b"}").digest()).digest()
        stored = link.hex().encode("ascii")
        if line[-SUFFIX_LEN:] != HASH_MARKER + stored + b'"}\n':
            stop = link_failure(line, seq, prev_hex)
            break
        chunk.append(line)
        prevs.append(prev_hex)
        size += len(line)
        prev_hex, prev_raw = stored, link
        if seq == anchor_seq and stored != anchor_hash:
            stop = anchor_failure(seq)  # after line `seq` is read: a line no reader takes is named first
            break
        if len(chunk) >= chunk_lines or size >= CHUNK_BYTES:
            failed = _send(sent, workers, first, prevs, chunk)
            if failed is not None:
                return failed
            chunk, prevs, size, first = [], [], 0, seq + 1
    if chunk:
        failed = _send(sent, workers, first, prevs, chunk)
        if failed is not None:
            return failed
    while sent:
        failed = _settle(sent.popleft())
        if failed is not None:
            return failed
    return stop if stop is not None else end(seq, prev_hex, anchor_seq)


def _send(
    sent: deque[_Chunk], workers: list[_Worker], first: int, prevs: list[bytes], chunk: list[bytes]
) -> Verification | None:
    """Give the chunk to a worker with none, once the oldest answered if all have one: that answer, if it names a
    line no reader takes, is the first such line of the log so far."""
    if len(sent) == len(workers):
        failed = _settle(sent.popleft())
        if failed is not None:
            return failed
    busy = [chunk.worker for chunk in sent]
    worker = next(worker for worker in workers if worker not in busy)
    try:
        readworker.write_frame(worker.into, b"".join(chunk))
    except OSError as exc:
        raise _Gone from exc
    sent.append(_Chunk(first, prevs, worker))
    return None


def _settle(chunk: _Chunk) -> Verification | None:
    """The failure a chunk's reading found, as `verify_lines` reports it, or None."""
    answer = readworker.read_frame(chunk.worker.out)
    if answer is None:
        raise _Gone
    found = readworker.decode(answer)
    if found is None:
        return None
    index, problem = found
    return form_failure(chunk.first_seq + index, chunk.prevs[index], problem)
