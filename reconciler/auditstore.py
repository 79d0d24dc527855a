"""The audit log kept in the cluster: one chain for the controller and every `mlcp apply`, wherever it runs.

A log file beside each writer splits the trail across laptops and pods. Here
the records live as ConfigMaps in the controller namespace (tenants cannot
write there): segments `mlcp-audit-00000001`, `…02`, … each holding up to
`SEGMENT_BYTES` of exactly the JSON Lines a file log holds, so `export` gives a
file that verifies on its own. ConfigMap `mlcp-audit` points at the last
segment (a hint: a writer that died before moving it is caught up by looking
one segment further). Readers go through every segment up to the one it
names: a segment missing on the way is damage, never the end of the log.

With shards (reconciler.shardleases), each shard keeps a chain of its own —
segments `mlcp-audit-shard-<i>-00000001`, …, pointer `mlcp-audit-shard-<i>`,
written only by the holder of that shard's Lease — because a turn (intents,
writes, outcomes) must never overlap another writer's, and shards run their
passes at once. `chains` finds them (their pointers carry the label
`mlcp.dev/audit-chain`), and `mlcp audit verify` checks each.

Every append is a compare-and-set on the last segment's resourceVersion, which
every writer changes: a PUT of that segment with the version it read. A
writer whose records do not fit first marks the segment full (annotation
`mlcp.dev/full`, in the same PUT as the records that still fit) and only then
POSTs the next segment, which fails if it exists. So a record lands only
after the head its writer read: a PUT into a segment that was filled or
appended to meanwhile fails (409), and the next segment is created only
after its predecessor was closed to further records, by whoever closed it or
by a writer that found it closed. The loser re-reads the head and seals its
records after the winner's: two writers can never fork the chain, even one
that appends without the Lease. A closed segment is immutable and an open one
keeps room (`reserve`), so even a writer of an older release, which knows
nothing of closing, cannot fork it with a record of a usual size. Whole turns (intents, writes, outcomes) are
serialized by the leader's Lease, which `mlcp apply` takes for its turn
(reconciler.applyturn.hold).

Costs: every append rewrites its segment (at most 256 KiB, and segments close with 64 KiB free),
a pass with changes appends a few times (intents, then each group of
outcomes), each append one PUT: the store keeps the last segment it read or
wrote, and the PUT's precondition says whether it is still the last. A no-op
pass reads the last segment only; reading the whole log is one GET per
segment (about 150 records each).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from typing import Any

from controlplane.audit import GENESIS, AuditError, AuditRecord, Head, Verification, verify_lines
from controlplane.audit.chain import LINE_START, read, refused_because, seal_within, split_line
from controlplane.labels import FIELD_MANAGER, MANAGED_BY, MANAGER, ROLE_LABEL
from reconciler.backends.base import BackendError
from reconciler.backends.deadline import Remaining, bounded
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import APPLY_PATCH, KubeClient, apply_query
from reconciler.backends.kubernetes_objects import CONFIGMAP

LOCATION = "cluster"
"""What `--audit-log` / MLCP_AUDIT_LOG say to choose this store."""
SEGMENT_PREFIX = "mlcp-audit-"
POINTER = "mlcp-audit"
CHAIN_LABEL = "mlcp.dev/audit-chain"
"""On a chain's pointer: the chain's name ("" for the main chain, `shard-<i>` for a shard's)."""
KEY = "records.jsonl"
SEGMENT_BYTES = 256 * 1024
MAX_RECORD_BYTES = 768 * 1024
"""A record bigger than a segment gets one of its own; the API server's limit on a ConfigMap is 1 MiB."""
FULL = "mlcp.dev/full"
"""On a segment: no record goes into it any more; the next segment holds the following ones (see the module
docstring). A closed segment is also made immutable (see `reserve`)."""


def reserve() -> int:
    """The room an open segment always keeps (64 KiB): a writer that would leave less closes it.

    For writers of releases before the compare-and-set on the last segment, which know nothing of `FULL` and
    start the next segment, after checking only that it does not exist, when a record does not fit: their
    writes without the Lease (a refused `mlcp apply` recorded its refusal so) forked the chain. With this room
    such a record (far smaller) always fits an open segment, so they append with a compare-and-set PUT there,
    and a closed segment is immutable, so the API server refuses their PUT into it (an error, not a fork)."""
    return SEGMENT_BYTES // 4


RETRIES = 8
_SEGMENT = re.compile(r"[0-9]{1,19}")


class _Conflict(Exception):
    """Another writer appended between our read and our write."""


class _Missing(AuditError):
    """A segment that the pointer names, or one before it, is gone: the log was damaged."""

    def __init__(self, message: str, hint: str, index: int) -> None:
        super().__init__(message, hint)
        self.index = index


class ClusterStore:
    """The `AuditStore` in ConfigMaps of the controller namespace (see the module docstring)."""

    def __init__(self, kube: KubeClient, chain: str = "") -> None:
        self.kube = kube
        self.chain = chain
        """"" for the main chain; `shard-<i>` for a shard's (see the module docstring)."""
        self.pointer = f"{POINTER}-{chain}" if chain else POINTER
        self.prefix = f"{self.pointer}-"
        self._last = 0
        """The last segment this process saw (segments are never removed, so it only grows)."""
        self._tail: tuple[int, dict[str, Any] | None] | None = None
        """The last segment as this process last read or wrote it ((0, None): the log was empty), or None: read it
        again. The next append is a compare-and-set on its resourceVersion, so a stale one only costs a retry."""

    def __repr__(self) -> str:
        return f"ClusterStore({self.namespace!r}{f', {self.chain!r}' if self.chain else ''})"

    @property
    def namespace(self) -> str:
        return self.kube.controller_namespace

    @property
    def location(self) -> str:
        return f"{LOCATION}:{self.namespace}" + (f"/{self.chain}" if self.chain else "")

    def exclusive(self) -> AbstractContextManager[None]:
        return nullcontext()  # whole turns are serialized by the Lease; each append is a compare-and-set

    def bounded(self, remaining: Remaining) -> AbstractContextManager[None]:
        """This thread's requests end within a fence's time: appends end with the Lease (reconciler.fencing)."""
        return bounded(self.kube, remaining)

    # -- reading ---------------------------------------------------------------------------------------------

    def _call(self, method: str, name: str, body: Any = None, query: list[tuple[str, str]] | None = None) -> Any:
        try:
            return self.kube.request(method, CONFIGMAP.path(self.namespace, name), query, body)
        except HttpError:
            raise
        except BackendError as exc:
            raise AuditError(
                f"{self.location}: cannot reach the audit log: {exc}", "check the API server and your kubeconfig"
            ) from None

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._call("GET", name))
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise _denied(self.location, "read", exc) from None

    def _segment(self, index: int) -> dict[str, Any] | None:
        return self._get(f"{self.prefix}{index:08d}")

    def _last_segment(self) -> tuple[int, dict[str, Any] | None]:
        """(index, object) of the last segment; (0, None) for an empty log."""
        index = self._last or self._pointer()
        segment = self._segment(index) if index else None
        if index and segment is None:
            raise self._missing(index)
        while (following := self._segment(index + 1)) is not None:
            index, segment = index + 1, following
        self._last = index
        self._tail = (index, segment)
        return index, segment

    def _missing(self, index: int) -> _Missing:
        return _Missing(
            f"{self.location}: segment {self.prefix}{index:08d} is missing: the log was damaged",
            "restore it from a copy (`mlcp audit export`), then run `mlcp audit verify --anchor cluster`",
            index,
        )

    def _segments(self) -> Iterator[tuple[int, bytes]]:
        """Every segment, first to last: up to the one the pointer names, and on while more follow (a writer
        creates the next before it moves the pointer). One missing on the way is damage (`_Missing`), never the
        end of the log: it would hide every later record."""
        pointer = self._pointer()
        index = 1
        while (segment := self._segment(index)) is not None or index <= pointer:
            if segment is None:
                raise self._missing(index)
            yield index, _text(segment)
            index += 1

    def _pointer(self) -> int:
        """The segment the pointer names (0: no pointer yet); AuditError when it names none."""
        segment = ((self._get(self.pointer) or {}).get("data") or {}).get("segment") or "0"
        if not isinstance(segment, str) or not _SEGMENT.fullmatch(segment):
            raise AuditError(
                f"{self.location}: the pointer {self.namespace}/{self.pointer} is damaged: {str(segment)[:40]!r} is "
                "not a segment number",
                f"set its data.segment to the last segment's number (`kubectl get configmap -n {self.namespace}`)",
            )
        return int(segment)

    def raw_lines(self) -> Iterator[bytes]:
        for _, text in self._segments():
            yield from _lines(text)

    def records(self) -> Iterator[AuditRecord]:
        for number, line in enumerate(self.raw_lines(), start=1):
            yield self._parse(line, number)

    def _parse(self, line: bytes, number: int) -> AuditRecord:
        try:
            return read(line)
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
            raise AuditError(
                f"{self.location}: record {number}: not an audit record ({refused_because(exc)})",
                "run `mlcp audit verify`",
            ) from None

    def get(self, seq: int) -> AuditRecord | None:
        for record in self.records():
            if record.seq == seq:
                return record
        return None

    def head(self) -> Head | None:
        return _head(_text(self._last_segment()[1] or {}), self.location)

    def tail(self) -> Iterator[AuditRecord]:
        index, segment = self._last_segment()
        seq = None
        while segment is not None:
            for line in reversed(_lines(_text(segment))):
                record = self._parse(line, seq or 0)
                seq = record.seq - 1
                yield record
            index -= 1
            segment = self._segment(index) if index else None
            if index and segment is None:
                raise self._missing(index)

    def verify(self, anchor: Head | None = None) -> Verification:
        """The chain checked as `verify_lines` does; a missing segment breaks it where its records belong."""
        missing: list[_Missing] = []

        def lines() -> Iterator[bytes]:
            try:
                yield from self.raw_lines()
            except _Missing as exc:
                missing.append(exc)

        result = verify_lines(lines(), anchor)
        if missing and (result.ok or result.bad_seq == result.count + 1):
            name = f"{self.prefix}{missing[0].index:08d}"
            problem = f"segment {name} is missing, and with it every record from here on: records were removed"
            return Verification(result.count, result.head, result.count + 1, problem)
        return result

    # -- appending -------------------------------------------------------------------------------------------

    def append(self, record: AuditRecord) -> AuditRecord:
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        sealed: list[AuditRecord] = []
        conflicts = 0
        while len(sealed) < len(records):
            try:
                sealed += self._append_once(records[len(sealed) :])
            except _Conflict:
                conflicts += 1
                self._last, self._tail = 0, None
                if conflicts >= RETRIES:
                    raise AuditError(
                        f"{self.location}: other writers kept appending; {len(records) - len(sealed)} record(s) "
                        "not written",
                        "only the Lease holder should write: check for a writer that does not take the Lease",
                    ) from None
        return sealed

    def _append_once(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """Seal the records after the current head; write as many as fit one segment with one compare-and-set."""
        index, segment = self._tail if self._tail is not None else self._last_segment()
        text = _text(segment or {})
        head = _head(text, self.location)
        seq, prev = head if head else (0, GENESIS)
        sealed: list[AuditRecord] = []
        lines: list[bytes] = []
        for record in records:
            try:
                done, line = seal_within(record, seq + 1, prev, MAX_RECORD_BYTES)
            except AuditError as exc:
                raise AuditError(f"{self.location}: {exc}", exc.hint) from None
            sealed.append(done)
            lines.append(line)
            seq, prev = done.seq, done.hash
        if segment is not None and not _full(segment):
            room = _fitting(lines, SEGMENT_BYTES - len(text))
            # What does not fit goes to the next segment, which may be created only once this one is closed.
            written = text + b"".join(lines[:room])
            self._put(index, segment, written, full=room < len(lines) or _closing(written))
            return sealed[:room]
        count = max(1, _fitting(lines, SEGMENT_BYTES))
        written = b"".join(lines[:count])
        self._create(index + 1, written, sealed[0].seq, full=_closing(written))
        return sealed[:count]

    def _put(self, index: int, segment: dict[str, Any], text: bytes, *, full: bool) -> None:
        """Replace the segment's records if nobody wrote it since it was read (its resourceVersion); `full`
        closes it."""
        metadata = dict(segment["metadata"])
        if full:
            metadata["annotations"] = {**(metadata.get("annotations") or {}), FULL: "true"}
        body = {**segment, "metadata": metadata, "data": {KEY: text.decode("ascii")}, **_closed(full)}
        try:
            written = self._call("PUT", metadata["name"], body)
        except HttpError as exc:
            if exc.status in (404, 409):  # written (or removed) by someone else since: read the head again
                raise _Conflict from None
            raise _denied(self.location, "write", exc) from None
        self._tail = (index, dict(written))

    def _create(self, index: int, text: bytes, first: int, *, full: bool) -> None:
        annotations = {"mlcp.dev/first-seq": str(first), **({FULL: "true"} if full else {})}
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"{self.prefix}{index:08d}",
                "namespace": self.namespace,
                "labels": {MANAGED_BY: MANAGER, ROLE_LABEL: "audit-segment"},
                "annotations": annotations,
            },
            "data": {KEY: text.decode("ascii")},
            **_closed(full),
        }
        try:
            written = self.kube.request("POST", CONFIGMAP.collection(self.namespace), body=body)
        except HttpError as exc:
            if exc.status == 409:
                raise _Conflict from None
            raise _denied(self.location, "write", exc) from None
        except BackendError as exc:
            raise AuditError(f"{self.location}: cannot reach the audit log: {exc}") from None
        self._last, self._tail = index, (index, dict(written))
        self._point(index)

    def _point(self, index: int) -> None:
        """Move the hint to the new last segment (best effort: readers look one segment further anyway)."""
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.pointer,
                "namespace": self.namespace,
                "labels": {MANAGED_BY: MANAGER, CHAIN_LABEL: self.chain},
            },
            "data": {"segment": str(index)},
        }
        query = apply_query(FIELD_MANAGER, force=True)
        with suppress(BackendError):
            self.kube.request("PATCH", CONFIGMAP.path(self.namespace, self.pointer), query, body, APPLY_PATCH)


def chains(kube: KubeClient) -> list[str]:
    """The shard chains kept in the controller namespace, by their pointers' label (the main chain not included)."""
    query = [("labelSelector", CHAIN_LABEL)]
    try:
        found = kube.request("GET", CONFIGMAP.collection(kube.controller_namespace), query)
    except BackendError as exc:
        raise AuditError(f"cannot list the audit chains in {kube.controller_namespace}: {exc}") from None
    names = {str(((item.get("metadata") or {}).get("labels") or {}).get(CHAIN_LABEL) or "") for item in found["items"]}
    return sorted(n for n in names if n)


def _fitting(lines: Sequence[bytes], room: int) -> int:
    """How many of the leading lines fit in `room` bytes."""
    total = 0
    for count, line in enumerate(lines):
        total += len(line)
        if total > room:
            return count
    return len(lines)


def _full(segment: dict[str, Any]) -> bool:
    closed = ((segment.get("metadata") or {}).get("annotations") or {}).get(FULL) == "true"
    return closed or segment.get("immutable") is True


def _closing(text: bytes) -> bool:
    """Whether a segment holding `text` has less room left than an open one keeps (`reserve`)."""
    return SEGMENT_BYTES - len(text) < reserve()


def _closed(full: bool) -> dict[str, Any]:
    """The fields that make a closed segment immutable: the API server refuses every write into it."""
    return {"immutable": True} if full else {}


def _text(segment: dict[str, Any]) -> bytes:
    return str((segment.get("data") or {}).get(KEY) or "").encode("ascii", "replace")


def _lines(text: bytes) -> list[bytes]:
    """A segment's lines, split where a file log's are: at newlines only (`bytes.splitlines` also splits at a
    carriage return, so a segment and its export, the same bytes, were read as different lines)."""
    lines = text.split(b"\n")
    return [line + b"\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def _head(text: bytes, location: str) -> Head | None:
    """The last line's seq and hash."""
    if not text:
        return None
    line = text[text.rfind(b"\n", 0, len(text) - 1) + 1 :]
    parts, match = split_line(line), LINE_START.match(line)
    if parts is None or match is None:
        raise AuditError(f"{location}: the last record is not a sealed audit record", "run `mlcp audit verify`")
    return Head(int(match.group(1)), parts[1].decode("ascii"))


def _denied(location: str, what: str, exc: HttpError) -> AuditError:
    hint = "the writer needs get, create and update on ConfigMaps in the controller namespace (deploy/…/role.yaml)"
    return AuditError(f"{location}: cannot {what} the audit log: {exc}", hint if exc.status == 403 else "")
