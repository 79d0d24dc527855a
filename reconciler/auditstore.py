"""The audit log kept in the cluster: one chain for the controller and every `mlcp apply`, wherever it runs.

A log file beside each writer splits the trail across laptops and pods. Here
the records live as ConfigMaps in the controller namespace (tenants cannot
write there): segments `mlcp-audit-00000001`, `…02`, … each holding up to
`SEGMENT_BYTES` of exactly the JSON Lines a file log holds, so `export` gives a
file that verifies on its own. ConfigMap `mlcp-audit` points at the last
segment (a hint: a writer that died before moving it is caught up by looking
one segment further).

With shards (reconciler.shardleases), each shard keeps a chain of its own —
segments `mlcp-audit-shard-<i>-00000001`, …, pointer `mlcp-audit-shard-<i>`,
written only by the holder of that shard's Lease — because a turn (intents,
writes, outcomes) must never overlap another writer's, and shards run their
passes at once. `chains` finds them (their pointers carry the label
`mlcp.dev/audit-chain`), and `mlcp audit verify` checks each.

An append is one compare-and-set: a PUT of the last segment carrying the
resourceVersion it read, or a POST of the next segment, which fails if it
exists. Two writers can therefore never fork the chain; the one that loses
re-reads the head and seals its records after the other's. Whole turns
(intents, writes, outcomes) are serialized by the leader's Lease, which
`mlcp apply` takes for its turn (reconciler.applyturn.hold).

Costs: every append rewrites its segment (at most 256 KiB, half on average),
a pass with changes appends a few times (intents, then each group of
outcomes), a no-op pass reads the last segment only; reading the whole log is
one GET per segment (about 150 records each).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from typing import Any

import orjson

from controlplane.audit import GENESIS, AuditError, AuditRecord, Head, Verification, verify_lines
from controlplane.audit.chain import LINE_START, seal, split_line
from controlplane.labels import FIELD_MANAGER, MANAGED_BY, MANAGER, ROLE_LABEL
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_client import APPLY_PATCH, CONFIGMAP, HttpError, KubeClient, apply_query

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
RETRIES = 8


class _Conflict(Exception):
    """Another writer appended between our read and our write."""


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
        index = self._last
        if index == 0:
            pointer = self._get(self.pointer)
            index = int(((pointer or {}).get("data") or {}).get("segment") or 0)
        segment = self._segment(index) if index else None
        if index and segment is None:
            raise AuditError(
                f"{self.location}: segment {self.prefix}{index:08d} is missing: the log was damaged",
                "restore it from a copy (`mlcp audit export`), then run `mlcp audit verify --anchor cluster`",
            )
        while (following := self._segment(index + 1)) is not None:
            index, segment = index + 1, following
        self._last = index
        return index, segment

    def _segments(self) -> Iterator[tuple[int, bytes]]:
        index = 1
        while (segment := self._segment(index)) is not None:
            yield index, _text(segment)
            index += 1

    def raw_lines(self) -> Iterator[bytes]:
        for _, text in self._segments():
            yield from text.splitlines(keepends=True)

    def records(self) -> Iterator[AuditRecord]:
        for number, line in enumerate(self.raw_lines(), start=1):
            yield self._parse(line, number)

    def _parse(self, line: bytes, number: int) -> AuditRecord:
        try:
            return AuditRecord.from_dict(orjson.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(
                f"{self.location}: record {number}: not an audit record ({type(exc).__name__}: {exc})",
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
            for line in reversed(_text(segment).splitlines(keepends=True)):
                record = self._parse(line, seq or 0)
                seq = record.seq - 1
                yield record
            index -= 1
            segment = self._segment(index) if index else None

    def verify(self, anchor: Head | None = None) -> Verification:
        return verify_lines(self.raw_lines(), anchor)

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
                self._last = 0
                if conflicts >= RETRIES:
                    raise AuditError(
                        f"{self.location}: other writers kept appending; {len(records) - len(sealed)} record(s) "
                        "not written",
                        "only the Lease holder should write: check for a writer that does not take the Lease",
                    ) from None
        return sealed

    def _append_once(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """Seal the records after the current head; write as many as fit one segment with one compare-and-set."""
        index, segment = self._last_segment()
        text = _text(segment or {})
        head = _head(text, self.location)
        seq, prev = head if head else (0, GENESIS)
        sealed: list[AuditRecord] = []
        lines: list[bytes] = []
        for record in records:
            done, line = seal(record, seq + 1, prev)
            if len(line) > MAX_RECORD_BYTES:
                raise AuditError(
                    f"{self.location}: a record of {len(line)} bytes is larger than a segment may be "
                    f"({MAX_RECORD_BYTES}); its spec is {record.spec}",
                    "keep that spec smaller, or keep the log in a file (--audit-log PATH)",
                )
            sealed.append(done)
            lines.append(line)
            seq, prev = done.seq, done.hash
        room = _fitting(lines, SEGMENT_BYTES - len(text)) if segment is not None else 0
        if room:
            self._put(segment or {}, text + b"".join(lines[:room]))
            return sealed[:room]
        count = max(1, _fitting(lines, SEGMENT_BYTES))
        self._create(index + 1, b"".join(lines[:count]), sealed[0].seq)
        return sealed[:count]

    def _put(self, segment: dict[str, Any], text: bytes) -> None:
        segment["data"] = {KEY: text.decode("ascii")}
        try:
            self._call("PUT", segment["metadata"]["name"], segment)
        except HttpError as exc:
            if exc.status == 409:
                raise _Conflict from None
            raise _denied(self.location, "write", exc) from None

    def _create(self, index: int, text: bytes, first: int) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"{self.prefix}{index:08d}",
                "namespace": self.namespace,
                "labels": {MANAGED_BY: MANAGER, ROLE_LABEL: "audit-segment"},
                "annotations": {"mlcp.dev/first-seq": str(first)},
            },
            "data": {KEY: text.decode("ascii")},
        }
        try:
            self.kube.request("POST", CONFIGMAP.collection(self.namespace), body=body)
        except HttpError as exc:
            if exc.status == 409:
                raise _Conflict from None
            raise _denied(self.location, "write", exc) from None
        except BackendError as exc:
            raise AuditError(f"{self.location}: cannot reach the audit log: {exc}") from None
        self._last = index
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


def _text(segment: dict[str, Any]) -> bytes:
    return str((segment.get("data") or {}).get(KEY) or "").encode("ascii", "replace")


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
