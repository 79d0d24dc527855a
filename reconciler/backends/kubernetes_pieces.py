"""mlcp's Kubernetes inventory in pieces: an index ConfigMap and one ConfigMap per bucket of tenants.

Why pieces: one ConfigMap of 90,000 objects was gzip'd and written whole (~0.7 s of CPU) by every pass that
wrote, every sharded replica raced on it, and it neared the API server's 1 MiB object limit. Now each tenant's
objects live in one of `BUCKETS` pieces chosen by a stable hash of the tenant's name (sha256, never Python's
salted `hash`), and the objects of no tenant (the platform's, those an older mlcp recorded without attribution,
and unreadable records) in the piece `none`. A pass that writes one tenant encodes and writes that tenant's
piece and the index: O(1) pieces, whatever the number of tenants. 64 buckets: at 10,000 tenants (90,000 objects)
a piece holds ~1,400 objects (~6 KB gzip'd, ~1 ms to encode), so a piece reaches the 1 MiB limit only near 15
million objects, a full rewrite is 65 small writes, and the one LIST that reads them all stays one page.

Trust. Pieces are read only from mlcp's controller namespace (one LIST there, never a cluster-wide one: a tenant
who may write ConfigMaps in its own namespace cannot add a piece). The index (`mlcp-inventory`, the name the single
ConfigMap had, with the applied revision as before) names every piece with the sha256 digests of the versions mlcp
itself last wrote. A piece whose bytes match none of them (edited out of band), that is not gzip'd JSON in mlcp's
format, or that records an object for a tenant that does not hash to it, is *unreadable*: none of its objects is
in the inventory, so none is deleted (deletion needs mlcp's record) or taken as a tenant's namespace, the plan's
notes say why, and mlcp refuses to write over it (a pass that must change it fails its inventory write, naming the
piece; the other pieces are written). A ConfigMap that the index does not name is not read. A piece the index names
that is missing is read as empty, with a note: a missing record only ever blocks a delete or a namespace claim.

Crash safety. With an index in place, a write stores the index first, accepting each written piece's new digest
beside the ones it accepted already (the last `ACCEPTED`), then the pieces: a crash in between leaves pieces the
index accepts. Migration from the single ConfigMap (format 1 or 2, `kubernetes_inventory`) and the very first write
store the pieces first and the index last, replacing the old blob in the same ConfigMap: until then the old
inventory is what is read, and pieces without an index are never read, so a crash in between loses nothing. The
index is gzip'd JSON of format 3 under the old key, so an older mlcp refuses it ("format 3 is not 2") rather than
reading an empty inventory.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from controlplane.inventory import Inventory, InventoryRecord
from controlplane.labels import FIELD_MANAGER, MANAGED_BY, MANAGER, ROLE_LABEL, SELECTOR
from controlplane.plans import ObjectRef
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_inventory import (
    CONFIGMAP_NAME,
    KEY,
    REVISION_ANNOTATION,
    Encoder,
    UnreadableInventory,
    decode,
)
from reconciler.backends.kubernetes_objects import CONFIGMAP

INDEX = CONFIGMAP_NAME
FORMAT = 3
BUCKETS = 64
NONE = f"{INDEX}-none"
PIECES = (*(f"{INDEX}-{i:02d}" for i in range(BUCKETS)), NONE)
ACCEPTED = 4
"""Digests kept per piece in the index: the newest few versions mlcp wrote (replicas of several shards may each
have announced one before writing it)."""
ABSENT = ""
"""The digest of a piece that does not exist yet (announced before its first write)."""
INDEX_ROLE = "inventory"
"""The index's role, and the single ConfigMap's of an older mlcp (labelled so since the first inventory)."""
PIECE_ROLE = "inventory-piece"
LISTED = f"{SELECTOR},{ROLE_LABEL} in ({INDEX_ROLE},{PIECE_ROLE})"
"""What the one LIST of a read selects: the index and the pieces, and none of mlcp's other ConfigMaps beside them
(the cluster audit log's segments grow without end: at 10,000 tenants a read that listed them downloaded and
decoded hundreds of megabytes, most of a sharded replica's peak)."""


@lru_cache(maxsize=65536)
def piece_of(tenant: str) -> str:
    """The piece that holds a tenant's objects ("" for no tenant: `none`)."""
    if not tenant:
        return NONE
    return PIECES[int.from_bytes(hashlib.sha256(tenant.encode()).digest()[:4], "big") % BUCKETS]


def _piece_of_record(record: InventoryRecord | None) -> str:
    return piece_of((record.tenant if record is not None and record.error is None else None) or "")


class Transport(Protocol):
    """The requests the store sends (KubeClient's)."""

    def request(
        self, method: str, path: str, query: list[tuple[str, str]] | None = None, body: Any = None
    ) -> dict[str, Any]: ...

    def server_side_apply(self, path: str, body: Any, field_manager: str, *, force: bool = False) -> dict[str, Any]: ...


@dataclass
class _Piece:
    """One piece as stored: its objects, and what the next write compares against."""

    refs: frozenset[ObjectRef] = frozenset()
    records: dict[ObjectRef, InventoryRecord] = field(default_factory=dict)
    version: str = ""
    """Its resourceVersion ("" when it does not exist)."""
    digest: str = ABSENT
    error: str | None = None
    """Why it is unreadable (None: it was read, or it is missing and read as empty)."""
    encoder: Encoder = field(default_factory=Encoder)


def _digest(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _index_blob(accepted: Mapping[str, list[str]]) -> bytes:
    body = orjson.dumps({"format": FORMAT, "pieces": dict(sorted(accepted.items()))})
    return gzip.compress(body, mtime=0)


def _accepted(data: Any) -> dict[str, list[str]] | None:
    """The index's digests by piece (None when `data` is not an index: an older single-ConfigMap inventory)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    pieces = data.get("pieces")
    if not isinstance(pieces, dict):
        raise UnreadableInventory("an index of format 3 without its pieces")
    return {
        name: [d for d in digests if isinstance(d, str)][:ACCEPTED]
        for name, digests in pieces.items()
        if name in PIECES and isinstance(digests, list)
    }


class PieceStore:
    """Reads and writes the inventory's index and pieces; keeps each piece as last read or written, so a read
    decodes only the pieces whose resourceVersion moved and a write encodes only the pieces that changed."""

    def __init__(self, namespace: str, client: Transport) -> None:
        self.namespace = namespace
        self.client = client
        self.collection = CONFIGMAP.collection(namespace)
        self.pieces: dict[str, _Piece] = {}
        self.accepted: dict[str, list[str]] | None = None
        """The index as last read or written (None: no index, so the next write writes every piece first)."""
        self.index_version = ""
        self.stored: Inventory | None = None
        self.problems: tuple[str, ...] = ()
        """What the last read found wrong with pieces (the plan's notes)."""

    # -- reading -------------------------------------------------------------------------------------------

    def _list(self) -> dict[str, dict[str, Any]]:
        """The index and pieces in the controller namespace, by name (one request; at most 66 objects)."""
        try:
            listed = self.client.request("GET", self.collection, [("labelSelector", LISTED)])
        except BackendError as exc:
            raise BackendError(f"reading mlcp's inventory failed: {exc}") from None
        items = listed.get("items") or []
        return {str((item.get("metadata") or {}).get("name")): item for item in items}

    def _blob(self, item: dict[str, Any]) -> bytes:
        return base64.b64decode((item.get("binaryData") or {}).get(KEY) or "", validate=True)

    def read(self) -> Inventory:
        listed = self._list()
        index = listed.get(INDEX)
        if index is None:
            self.pieces, self.accepted, self.index_version, self.problems = {}, None, "", ()
            return self._remember(Inventory())
        meta = index.get("metadata") or {}
        version, revision = (
            str(meta.get("resourceVersion", "")),
            (meta.get("annotations") or {}).get(REVISION_ANNOTATION),
        )
        try:
            blob = self._blob(index)
            data = orjson.loads(gzip.decompress(blob)) if blob else {"format": FORMAT, "pieces": {}}
            accepted = _accepted(data)
            legacy = decode(blob) if accepted is None and blob else None
        except (UnreadableInventory, binascii.Error, TypeError, OSError, EOFError, zlib.error, ValueError) as exc:
            raise BackendError(
                f"mlcp's inventory (ConfigMap {self.namespace}/{INDEX}, key {KEY}) is unreadable: {exc}; "
                "restore it from a backup, or delete it (then nothing is pruned until it is rebuilt, and tenants "
                "must adopt their namespaces again)"
            ) from None
        self.index_version = version
        if accepted is None:  # the single ConfigMap of an older mlcp: the next write migrates it
            refs, records = legacy or (frozenset(), {})
            self.accepted, self.problems = None, ()
            self.pieces = self._split(refs, records, listed)
            return self._remember(Inventory(refs, version, revision, records))
        self.accepted = accepted
        problems: list[str] = []
        for name in PIECES:
            self.pieces[name] = self._read_piece(name, listed.get(name), accepted.get(name), problems)
        self.problems = tuple(problems)
        every = frozenset[ObjectRef]().union(*(p.refs for p in self.pieces.values()))
        assembled: dict[ObjectRef, InventoryRecord] = {}
        for piece in self.pieces.values():
            assembled.update(piece.records)
        return self._remember(Inventory(every, version, revision, assembled))

    def _remember(self, inventory: Inventory) -> Inventory:
        self.stored = inventory
        return inventory

    def _split(
        self,
        refs: frozenset[ObjectRef],
        records: Mapping[ObjectRef, InventoryRecord],
        listed: Mapping[str, dict[str, Any]],
    ) -> dict[str, _Piece]:
        """A whole inventory as pieces (to migrate it): their versions as listed, their content not yet stored."""
        grouped: dict[str, set[ObjectRef]] = {}
        for ref in refs:
            grouped.setdefault(_piece_of_record(records.get(ref)), set()).add(ref)
        pieces: dict[str, _Piece] = {}
        for name in PIECES:
            members = frozenset(grouped.get(name, ()))
            version = str(((listed.get(name) or {}).get("metadata") or {}).get("resourceVersion", ""))
            pieces[name] = _Piece(members, {r: records[r] for r in members if r in records}, version, digest="?")
        return pieces

    def _read_piece(
        self, name: str, item: dict[str, Any] | None, accepted: list[str] | None, problems: list[str]
    ) -> _Piece:
        where = f"ConfigMap {self.namespace}/{name}"
        if item is None:
            if accepted and ABSENT not in accepted:
                problems.append(
                    f"mlcp's inventory piece {where} is missing: its tenants' objects are not recorded, so none is "
                    "deleted and their namespaces are not taken as theirs until passes record them again"
                )
            return _Piece()
        version = str((item.get("metadata") or {}).get("resourceVersion", ""))
        known = self.pieces.get(name)
        try:
            blob = self._blob(item)
        except (binascii.Error, TypeError) as exc:
            return self._unreadable(where, f"its data is not base64 ({exc})", version, problems)
        digest = _digest(blob)
        if digest not in (accepted or ()):
            return self._unreadable(
                where, "its content is not a version mlcp wrote (edited out of band?)", version, problems, digest
            )
        if known is not None and known.error is None and known.version == version and known.digest == digest:
            return known
        try:
            refs, records = decode(blob)
        except UnreadableInventory as exc:
            return self._unreadable(where, str(exc), version, problems, digest)
        for ref in refs:
            home = _piece_of_record(records.get(ref))
            if home != name:
                return self._unreadable(where, f"it records {ref}, which belongs in {home}", version, problems, digest)
        piece = _Piece(refs, dict(records), version, digest)
        piece.encoder.prime(refs, piece.records)
        return piece

    @staticmethod
    def _unreadable(where: str, why: str, version: str, problems: list[str], digest: str = "?") -> _Piece:
        problems.append(
            f"mlcp's inventory piece {where} is unreadable: {why}; none of its objects is deleted and mlcp will not "
            "write over it: restore it from a backup, or delete it (its tenants' objects are then recorded again "
            "as passes apply them)"
        )
        return _Piece(version=version, digest=digest, error=why)

    # -- writing -------------------------------------------------------------------------------------------

    def changed_pieces(self, inventory: Inventory) -> dict[str, frozenset[ObjectRef]]:
        """The pieces `inventory` changes against what is stored, with their new objects (every piece when there
        is no index yet). Proportional to the change when `inventory` was made from the stored one by `updated`."""
        stored = self.stored
        if stored is None or self.accepted is None:
            grouped: dict[str, set[ObjectRef]] = {name: set() for name in PIECES}
            for ref in inventory.refs:
                grouped[_piece_of_record(inventory.records.get(ref))].add(ref)
            return {name: frozenset(refs) for name, refs in grouped.items()}
        made_from = inventory.changed_from
        if made_from is not None and made_from[0] is stored.records:
            changed = set(made_from[1])  # `updated` names every object it added, removed or recorded anew
        else:
            changed = set(inventory.refs ^ stored.refs) if inventory.refs is not stored.refs else set()
            if inventory.records is not stored.records:
                changed.update(r for r, rec in inventory.records.items() if stored.records.get(r) is not rec)
                changed.update(stored.records.keys() - inventory.records.keys())
        removed: dict[str, set[ObjectRef]] = {}
        added: dict[str, set[ObjectRef]] = {}
        for ref in changed:
            if ref in stored.refs:
                removed.setdefault(_piece_of_record(stored.records.get(ref)), set()).add(ref)
            if ref in inventory.refs:
                added.setdefault(_piece_of_record(inventory.records.get(ref)), set()).add(ref)
        return {
            name: (self.pieces[name].refs - removed.get(name, set())) | added.get(name, set())
            for name in removed.keys() | added.keys()
        }

    def write(self, inventory: Inventory, revision: str | None, *, conditional: bool = False) -> Inventory:
        """Store `inventory` (only the pieces that changed) with `revision`; the stored inventory back.

        `conditional` (several writers, one per shard): every write names the resourceVersion read (or creates),
        so an HttpError 409 means another writer came in between: read again, merge, retry.
        """
        changed = self.changed_pieces(inventory)
        if not changed and self.accepted is not None and revision == (self.stored and self.stored.revision):
            return self._remember(inventory.at(self.index_version, revision))
        refused = sorted(name for name in changed if self.pieces.get(name, _Piece()).error is not None)
        written: dict[str, tuple[_Piece, bytes]] = {}
        for name, refs in changed.items():
            if name in refused:
                continue
            piece = _Piece(refs, {r: rec for r in refs if (rec := inventory.records.get(r)) is not None})
            piece.encoder = self.pieces.get(name, _Piece()).encoder
            blob = piece.encoder.encode(refs, piece.records)
            piece.digest = _digest(blob)
            was = self.pieces.get(name)
            if was is not None and was.version and was.digest == piece.digest and self.accepted is not None:
                piece.version = was.version
                self.pieces[name] = piece
                continue  # the same bytes as stored (a record replaced by an equal one)
            written[name] = (piece, blob)
        first = self.accepted is None
        if not written and not refused and not first and revision == (self.stored and self.stored.revision):
            return self._remember(inventory.at(self.index_version, revision))  # the same bytes as stored
        accepted = dict(self.accepted or {})
        for name, (piece, _) in written.items():
            previous = [] if first else accepted.get(name, [ABSENT])
            accepted[name] = [piece.digest, *(d for d in previous if d != piece.digest)][:ACCEPTED]
        if first:
            self._ensure_namespace()
            self._write_pieces(written, conditional)
            self._write_index(accepted, revision, conditional)
        else:
            self._write_index(accepted, revision, conditional)
            self._write_pieces(written, conditional)
        self.accepted = accepted
        for name, (piece, _) in written.items():
            self.pieces[name] = piece
        stored = inventory.at(self.index_version, revision)
        if refused:
            self.stored = None  # what is stored is not `inventory`: the next write reads again
            raise BackendError(
                f"mlcp's inventory pieces {', '.join(refused)} are unreadable, so the records this pass made for "
                f"their tenants were not written (the other pieces were): {'; '.join(self.problems)}"
            )
        return self._remember(stored)

    def _ensure_namespace(self) -> None:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        self.client.server_side_apply(
            f"/api/v1/namespaces/{quote(self.namespace)}", namespace, FIELD_MANAGER, force=True
        )

    def _configmap(self, name: str, role: str, blob: bytes, annotations: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {MANAGED_BY: MANAGER, ROLE_LABEL: role},
                "annotations": annotations,
            },
            "binaryData": {KEY: base64.b64encode(blob).decode()},
        }

    def _put(self, name: str, body: dict[str, Any], version: str, conditional: bool) -> str:
        """Write one ConfigMap (conditional: on `version`, or a create when it had none); its new version."""
        if conditional and not version:
            result = self.client.request("POST", self.collection, body=body)
        else:
            if conditional:
                body["metadata"]["resourceVersion"] = version
            result = self.client.server_side_apply(f"{self.collection}/{name}", body, FIELD_MANAGER, force=True)
        return str((result.get("metadata") or {}).get("resourceVersion", ""))

    def _write_pieces(self, written: Mapping[str, tuple[_Piece, bytes]], conditional: bool) -> None:
        for name, (piece, blob) in sorted(written.items()):
            body = self._configmap(name, PIECE_ROLE, blob, {})
            piece.version = self._put(name, body, self.pieces.get(name, _Piece()).version, conditional)

    def _write_index(self, accepted: Mapping[str, list[str]], revision: str | None, conditional: bool) -> None:
        body = self._configmap(
            INDEX, INDEX_ROLE, _index_blob(accepted), {REVISION_ANNOTATION: revision} if revision else {}
        )
        self.index_version = self._put(INDEX, body, self.index_version, conditional)
