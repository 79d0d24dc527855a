"""Where records live: an `AuditStore` protocol, and the default append-only JSON Lines file.

The file is the whole state: every append takes an exclusive `flock` on it,
reads the last line to continue `seq` and the chain, writes its lines with one
`O_APPEND` write and fsyncs before releasing the lock. So two writers (a
leader and a stray CLI, two processes after a failover) never interleave or
fork the chain, and a restarted process picks up exactly where the file ends.
A crash mid-append leaves an incomplete last line; it is reported (with the
byte offset to cut it at) and nothing is appended after it until someone looks.

A writer's turn (intents, writes, outcomes: see `journal`) holds the lock for
its whole length (`exclusive`), so no other writer's records land in between
and the next turn may treat any intent left open as abandoned.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from itertools import count
from pathlib import Path
from typing import BinaryIO, Protocol

from controlplane.audit.chain import (
    GENESIS,
    LINE_START,
    MAX_LINE_BYTES,
    Head,
    read,
    refused_because,
    seal_within,
    split_line,
)
from controlplane.audit.records import AuditError, AuditRecord
from controlplane.audit.verify import Verification, verify_file

DEFAULT_RELATIVE_PATH = Path(".mlcp") / "audit.jsonl"
ENV_VAR = "MLCP_AUDIT_LOG"
_TAIL_BLOCK = 64 * 1024


def default_path(repo_root: Path) -> Path:
    """The log kept beside a config repo: `<repo>/.mlcp/audit.jsonl` (git-ignored state, not a spec)."""
    return repo_root / DEFAULT_RELATIVE_PATH


class AuditStore(Protocol):
    """An append-only, hash-chained sequence of records."""

    @property
    def location(self) -> str:
        """Where the log is, as anchors and messages name it (`file:/abs/path`, `cluster:<namespace>`)."""
        ...

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the log for one writer's whole turn (a file lock; the cluster store relies on the Lease)."""
        ...

    def tail(self) -> Iterator[AuditRecord]:
        """Records newest first (a turn reads only the last few)."""
        ...

    def append(self, record: AuditRecord) -> AuditRecord:
        """Seal and persist one record; return it with seq, prev and hash set."""
        ...

    def append_many(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """Seal and persist records as one durable, uninterrupted run."""
        ...

    def records(self) -> Iterator[AuditRecord]:
        """Every record, oldest first."""
        ...

    def get(self, seq: int) -> AuditRecord | None: ...

    def head(self) -> Head | None:
        """The last record's position (None for an empty log)."""
        ...

    def raw_lines(self) -> Iterator[bytes]:
        """The stored bytes, one line per record, for export and verification."""
        ...

    def verify(self, anchor: Head | None = None) -> Verification: ...


class JsonlStore:
    """Append-only JSON Lines at `path`; one writer at a time by an exclusive file lock."""

    def __init__(self, path: Path, *, lock_timeout: float = 30.0) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self._held: tuple[int, int] | None = None
        """(locked descriptor, thread) while a turn holds the log (`exclusive`)."""

    def __repr__(self) -> str:
        return f"JsonlStore({str(self.path)!r})"

    @property
    def location(self) -> str:
        return f"file:{self.path.absolute()}"

    def append(self, record: AuditRecord) -> AuditRecord:
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        if not records:
            return []
        with self.exclusive():
            assert self._held is not None
            return self._append_locked(self._held[0], records)

    def _append_locked(self, fd: int, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        head = _read_tail(fd, self.path)
        seq, prev = head if head else (0, GENESIS)
        sealed, lines = [], []
        for record in records:
            seq += 1
            done, line = seal_within(record, seq, prev, MAX_LINE_BYTES)
            sealed.append(done)
            lines.append(line)
            prev = done.hash
        _write_all(fd, b"".join(lines))
        return sealed

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the file's lock until the block ends; appends inside it reuse the lock (re-entrant)."""
        if self._held is not None and self._held[1] == threading.get_ident():
            yield
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise AuditError(
                f"{self.path}: cannot open the audit log for writing: {exc.strerror}",
                "make the path a writable file, or name another with --audit-log / MLCP_AUDIT_LOG",
            ) from None
        try:
            self._lock(fd)
            if created:
                _fsync_dir(self.path.parent)
            self._held = (fd, threading.get_ident())
            yield
        finally:
            self._held = None
            os.close(fd)  # releases the lock

    def _lock(self, fd: int) -> None:
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AuditError(
                        f"{self.path}: another process has held the audit log's lock for {self.lock_timeout:.0f}s",
                        "only one writer (the leader) should append; check for a stuck mlcp process",
                    ) from None
                time.sleep(0.005)

    def head(self) -> Head | None:
        """Read the last record's seq and hash; raise AuditError if the last line is damaged."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _unreadable(self.path, exc) from None
        try:
            return _read_tail(fd, self.path)
        except OSError as exc:  # a directory opens, and fails on the first read
            raise _unreadable(self.path, exc) from None
        finally:
            os.close(fd)

    def tail(self) -> Iterator[AuditRecord]:
        head = self.head()  # refuses a damaged last line
        if head is None:
            return
        with self.path.open("rb") as stream:
            for seq, line in zip(count(head.seq, -1), _reverse_lines(stream), strict=False):
                yield _parse(line, seq, self.path)

    def raw_lines(self) -> Iterator[bytes]:
        try:
            stream = self.path.open("rb")
        except FileNotFoundError:
            raise AuditError(f"{self.path}: no audit log here", f"pass --audit-log PATH or set {ENV_VAR}") from None
        except OSError as exc:
            raise _unreadable(self.path, exc) from None
        with stream:
            try:
                yield from bounded_lines(stream, self.path)
            except OSError as exc:
                raise _unreadable(self.path, exc) from None

    def records(self) -> Iterator[AuditRecord]:
        for number, line in enumerate(self.raw_lines(), start=1):
            yield _parse(line, number, self.path)

    def get(self, seq: int) -> AuditRecord | None:
        if seq < 1:
            return None
        for number, line in enumerate(self.raw_lines(), start=1):
            if number == seq:
                return _parse(line, number, self.path)
        return None

    def verify(self, anchor: Head | None = None) -> Verification:
        return verify_file(self.path, anchor)


def _unreadable(path: Path, exc: OSError) -> AuditError:
    """A log path that cannot be read (a directory, no permission): the error `verify` gives too."""
    return AuditError(
        f"{path}: cannot read the audit log: {exc.strerror or exc}",
        f"pass the log's file with --audit-log or {ENV_VAR}",
    )


def _parse(line: bytes, number: int, path: Path) -> AuditRecord:
    if not line.endswith(b"\n"):
        raise AuditError(
            f"{path}:{number}: the last line is incomplete (an append was cut off)", "run `mlcp audit verify`"
        )
    try:
        return read(line)
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
        raise AuditError(
            f"{path}:{number}: not an audit record ({refused_because(exc)})", "run `mlcp audit verify`"
        ) from None


def _read_tail(fd: int, path: Path) -> Head | None:
    """The last line's seq and hash, read backwards from the end without scanning the file."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    end = os.pread(fd, 1, size - 1)
    start = size
    chunk = b""
    while start > 0:
        if size - start > MAX_LINE_BYTES:
            raise AuditError(
                f"{path}: the last line is longer than any record mlcp writes ({MAX_LINE_BYTES} bytes)",
                "run `mlcp audit verify`",
            )
        start = max(0, start - _TAIL_BLOCK)
        chunk = os.pread(fd, size - start, start)
        if chunk.rfind(b"\n", 0, len(chunk) - 1) >= 0:
            break
    cut = chunk.rfind(b"\n", 0, len(chunk) - 1) + 1
    line = chunk[cut:]
    if end != b"\n":
        number = _count_lines(fd, size) + 1
        raise AuditError(
            f"{path}:{number}: the last line is incomplete: an append was cut off (crash or full disk)",
            f"nothing more is appended until it is removed; inspect it, then: truncate -s {start + cut} {path}",
        )
    parts, match = split_line(line), LINE_START.match(line)
    if parts is None or match is None:
        number = _count_lines(fd, size)
        raise AuditError(f"{path}:{number}: the last line is not a sealed audit record", "run `mlcp audit verify`")
    return Head(int(match.group(1)), parts[1].decode("ascii"))


def _reverse_lines(stream: BinaryIO) -> Iterator[bytes]:
    """The complete lines of a file ending in a newline, last first, read in blocks from the end."""
    end = stream.seek(0, os.SEEK_END)
    rest = b""
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        stream.seek(start)
        block = stream.read(end - start) + rest
        end = start
        lines = block.split(b"\n")
        rest = lines[0]
        if len(rest) > MAX_LINE_BYTES:
            raise AuditError(f"a line of the audit log is longer than any record mlcp writes ({MAX_LINE_BYTES} bytes)")
        for line in reversed(lines[1:-1] if block.endswith(b"\n") else lines[1:]):
            yield line + b"\n"
    if rest:
        yield rest + b"\n"


def bounded_lines(stream: BinaryIO, path: Path) -> Iterator[bytes]:
    """The file's lines, each read only up to `MAX_LINE_BYTES`: a longer one is an error naming its line, never
    a read of gigabytes into memory."""
    for number in count(1):
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES:
            raise AuditError(
                f"{path}:{number}: the line is longer than any record mlcp writes ({MAX_LINE_BYTES} bytes)",
                "run `mlcp audit verify`",
            )
        yield line


def _count_lines(fd: int, size: int) -> int:
    count, offset = 0, 0
    while offset < size:
        block = os.pread(fd, 1 << 20, offset)
        count += block.count(b"\n")
        offset += len(block)
    return count


def _write_all(fd: int, data: bytes) -> None:
    """Write and fsync, or put the file back as it was: a failed append leaves no partial line."""
    before = os.fstat(fd).st_size
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as exc:
        os.ftruncate(fd, before)
        reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
        raise AuditError(f"cannot append to the audit log: {reason}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
