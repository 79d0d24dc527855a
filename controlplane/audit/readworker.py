"""A process that reads audit lines for `parallelverify`: chunks in on stdin, the first unreadable line out.

Started as `python -I -c …` with the parent's module path, never through `multiprocessing`: that re-runs the
caller's main script in every worker (the CLI's imports, or the top of a script that calls `JsonlStore.verify`
without an `if __name__ == "__main__"` guard), and `-I` keeps the environment and the working directory (a config
repository, say) from deciding what it imports.

Frames, both ways: 8 bytes of big-endian length, then that many bytes. In: lines, each ending in its one newline.
Out: empty when every line is a record; else the index of the first that is not, a newline, and why (UTF-8).
"""

from __future__ import annotations

import io
import sys
from typing import IO

from controlplane.audit.linecheck import form_problem

LENGTH = 8


def first_problem(chunk: bytes) -> tuple[int, str] | None:
    """The index of the first line no reader takes, and why; None if every line is a record.

    Every line of a chunk ends in its newline, the only one it holds (`readline` ends a line there), so the
    chunk's lines, as `BytesIO` iterates them (at newlines only, never at a carriage return as `splitlines`
    would split), are exactly the lines it was made of."""
    for index, line in enumerate(io.BytesIO(chunk)):
        problem = form_problem(line)
        if problem is not None:
            return index, problem
    return None


def read_frame(stream: IO[bytes]) -> bytes | None:
    """One frame's bytes, or None at the end of the stream (or a frame cut short: the other side is gone)."""
    head = stream.read(LENGTH)
    if len(head) < LENGTH:
        return None
    size = int.from_bytes(head, "big")
    data = stream.read(size)
    return data if len(data) == size else None


def write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(len(data).to_bytes(LENGTH, "big") + data)
    stream.flush()


def encode(found: tuple[int, str] | None) -> bytes:
    return b"" if found is None else b"%d\n" % found[0] + found[1].encode("utf-8", "surrogatepass")


def decode(data: bytes) -> tuple[int, str] | None:
    if not data:
        return None
    index, _, problem = data.partition(b"\n")
    return int(index), problem.decode("utf-8", "surrogatepass")


def main() -> None:
    """Read chunks until the parent closes stdin."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while (chunk := read_frame(source)) is not None:
        write_frame(sink, encode(first_problem(chunk)))
