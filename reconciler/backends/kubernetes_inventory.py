"""The bytes of mlcp's Kubernetes inventory: gzip'd JSON in one ConfigMap, grouped by spec so it stays small.

Format 2 records, for every object, the spec, tenant and source file of the
change that last wrote it (and, for a Namespace, deletion protection and
adoption), because deletions are attributed from this record and never from
the object's labels. One group per spec holds its objects, so the attribution
is written once per spec: at 90,000 objects (10,000 tenants of 9 objects, the
benchmark's shape) the blob is ~340 KB gzip'd, ~450 KB in the ConfigMap after
base64, against the API server's 1 MiB limit (format 1, refs only: ~330 KB);
one record per object would be ~770 KB.

Format 1 (a JSON list of refs, written by older mlcp) is still read: its
objects carry no record, so they are attributed to no spec and no tenant. A
group or value that is not what mlcp writes makes an unreadable record for
its objects (their deletion is blocked, saying why) rather than a failed read;
only a blob that is not gzip'd JSON at all fails the read, naming the
ConfigMap.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from controlplane.inventory import InventoryRecord
from controlplane.plans import ObjectRef

CONFIGMAP_NAME = "mlcp-inventory"
KEY = "inventory.json.gz"
REVISION_ANNOTATION = "mlcp.dev/applied-revision"
FORMAT = 2
SYSTEM = "kubernetes"
PROTECTED, ADOPTED = "protected", "adopted"
_NONE = InventoryRecord(None, None, None)


Create = Callable[[str, dict[str, Any]], dict[str, Any]]
"""POST of a new object to a collection."""


class UnreadableInventory(ValueError):
    """The stored blob is not gzip'd JSON in a format mlcp knows."""


GroupKey = tuple[str, str, str, str]
"""A group of the stored format: the spec, tenant, source and error its objects' records share."""
LEVEL = 6
"""gzip's level: zlib's default. Level 9 took 0.87 s at 90,000 objects for 3% fewer bytes (315 KB, not 305 KB)."""


def _key(record: InventoryRecord) -> GroupKey:
    return (record.spec or "", record.tenant or "", record.source or "", record.error or "")


def _entry(ref: ObjectRef, record: InventoryRecord) -> list[Any]:
    entry: list[Any] = [ref.api_version, ref.kind, ref.namespace or "", ref.name]
    if record.protected or record.adopted:
        entry.append([f for f, on in ((PROTECTED, record.protected), (ADOPTED, record.adopted)) if on])
    return entry


def _group(key: GroupKey, entries: list[list[Any]]) -> bytes:
    """One group's JSON: its objects sorted (cluster-scoped ones sorted as "", stored as null)."""
    entries.sort()
    for entry in entries:
        entry[2] = entry[2] or None
    spec, tenant, source, error = (value or None for value in key)
    group = {"spec": spec, "tenant": tenant, "source": source, "objects": entries}
    return orjson.dumps({**group, "error": error} if error else group)


def _document(chunks: Iterable[bytes]) -> bytes:
    """The gzip'd document of the groups' JSON, in key order: `{"format": 2, "specs": [...]}` as orjson writes it."""
    body = b'{"format":%d,"specs":[' % FORMAT + b",".join(chunks) + b"]}"
    return gzip.compress(body, compresslevel=LEVEL, mtime=0)


def encode(refs: Iterable[ObjectRef], records: Mapping[ObjectRef, InventoryRecord]) -> bytes:
    """The gzip'd JSON of an inventory (deterministic: the same inventory gives the same bytes)."""
    groups: dict[GroupKey, list[list[Any]]] = {}
    for ref in refs:
        record = records.get(ref, _NONE)
        groups.setdefault(_key(record), []).append(_entry(ref, record))
    return _document(_group(key, groups[key]) for key in sorted(groups))


class Encoder:
    """Encodes one inventory after another, serializing again only the groups whose objects changed.

    A pass that writes one tenant's objects changes one or two groups of 10,000; `encode` would group and
    sort all 90,000 objects (~1 s) for it. The encoder keeps each group's members and JSON from the last
    inventory it saw (`prime` after a read, or an encode), finds the objects whose membership or record
    changed by set arithmetic and identity (records are immutable and shared: an unchanged object keeps its
    record object), and gives exactly `encode`'s bytes (tests compare them). Held: a group per spec and a
    map of object to group, ~10 MB at 90,000 objects.
    """

    def __init__(self) -> None:
        self._refs: frozenset[ObjectRef] = frozenset()
        self._records: Mapping[ObjectRef, InventoryRecord] = {}
        self._group_of: dict[ObjectRef, GroupKey] = {}
        self._members: dict[GroupKey, set[ObjectRef]] = {}
        self._chunks: dict[GroupKey, bytes] = {}

    def prime(self, refs: frozenset[ObjectRef], records: Mapping[ObjectRef, InventoryRecord]) -> None:
        """Learn an inventory as stored (after reading it), so the next encode serializes only what changed."""
        self._refs, self._records = frozenset(), {}
        self._group_of, self._members, self._chunks = {}, {}, {}
        self._update(refs, records)

    def encode(
        self,
        refs: frozenset[ObjectRef],
        records: Mapping[ObjectRef, InventoryRecord],
        changed_from: tuple[Mapping[ObjectRef, InventoryRecord], frozenset[ObjectRef]] | None = None,
    ) -> bytes:
        """`encode(refs, records)`; `changed_from` (`Inventory.changed_from`): the records these were made from
        and the refs whose record changed, so that when those are the records last encoded no record is compared."""
        self._update(refs, records, changed_from)
        return _document(self._chunks[key] for key in sorted(self._chunks))

    def _update(
        self,
        refs: frozenset[ObjectRef],
        records: Mapping[ObjectRef, InventoryRecord],
        changed_from: tuple[Mapping[ObjectRef, InventoryRecord], frozenset[ObjectRef]] | None = None,
    ) -> None:
        old = self._records
        changed = set(refs ^ self._refs)
        if changed_from is not None and changed_from[0] is old:
            changed |= changed_from[1]
        elif records is not old:
            changed.update(ref for ref, record in records.items() if old.get(ref) is not record)
            changed.update(old.keys() - records.keys())
        dirty: set[GroupKey] = set()
        for ref in changed:
            was = self._group_of.pop(ref, None)
            if was is not None:
                self._members[was].discard(ref)
                dirty.add(was)
            if ref in refs:
                key = _key(records.get(ref, _NONE))
                self._group_of[ref] = key
                self._members.setdefault(key, set()).add(ref)
                dirty.add(key)
        for key in dirty:
            members = self._members.get(key)
            if not members:
                self._members.pop(key, None)
                self._chunks.pop(key, None)
                continue
            self._chunks[key] = _group(key, [_entry(ref, records.get(ref, _NONE)) for ref in members])
        self._refs, self._records = refs, records


def decode(blob: bytes) -> tuple[frozenset[ObjectRef], dict[ObjectRef, InventoryRecord]]:
    """Refs and records of a stored inventory (format 1 or 2); UnreadableInventory when it is neither."""
    try:
        data = orjson.loads(gzip.decompress(blob))
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise UnreadableInventory(f"not gzip'd JSON: {exc}") from None
    if isinstance(data, list):
        return frozenset(ref for item in data if (ref := _ref_v1(item)) is not None), {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("specs"), list):
        raise UnreadableInventory(f"format {data.get('format') if isinstance(data, dict) else '?'!r} is not {FORMAT}")
    refs: list[ObjectRef] = []
    records: dict[ObjectRef, InventoryRecord] = {}
    for group in data["specs"]:
        if not isinstance(group, dict) or not isinstance(group.get("objects"), list):
            continue  # objects that cannot be named are not mlcp's: never pruned
        base = _group_record(group)
        for item in group["objects"]:
            parsed = _object(item, base)
            if parsed is None:
                continue
            if parsed[1] == _NONE:
                refs.append(parsed[0])
            else:
                records[parsed[0]] = parsed[1]
    return frozenset(records).union(refs), records


def _group_record(group: dict[str, Any]) -> InventoryRecord:
    if group.get("error") is not None:
        return InventoryRecord(None, None, None, error=str(group["error"]))
    return InventoryRecord.checked(group.get("spec"), group.get("tenant"), group.get("source"))


def _object(item: Any, base: InventoryRecord) -> tuple[ObjectRef, InventoryRecord] | None:
    """One stored object (None when it cannot be named); plain type checks, as this runs per object."""
    if type(item) is not list or not 4 <= len(item) <= 5:
        return None
    api_version, kind, namespace, name = item[0], item[1], item[2], item[3]
    if type(api_version) is not str or type(kind) is not str or type(name) is not str:
        return None
    if not (api_version and kind and name) or (namespace is not None and (type(namespace) is not str or not namespace)):
        return None
    ref = ObjectRef(SYSTEM, api_version, kind, namespace, name)
    if len(item) == 4 or base.error is not None:
        return ref, base  # one record object shared by the objects of a spec
    flags = item[4]
    if type(flags) is not list or not set(flags) <= {PROTECTED, ADOPTED}:
        return ref, InventoryRecord(None, None, None, error=f"flags {flags!r} are not {PROTECTED!r}/{ADOPTED!r}")
    return ref, InventoryRecord(base.spec, base.tenant, base.source, PROTECTED in flags, ADOPTED in flags)


def _ref_v1(item: Any) -> ObjectRef | None:
    try:
        ref = ObjectRef.from_dict(item)
    except (KeyError, TypeError, AttributeError):
        return None
    return ref if all(isinstance(v, str) for v in (ref.system, ref.api_version, ref.kind, ref.name)) else None
