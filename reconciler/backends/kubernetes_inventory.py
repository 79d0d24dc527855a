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

import base64
import binascii
import gzip
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from controlplane.labels import MANAGED_BY, MANAGER
from controlplane.planning import Inventory, InventoryRecord
from controlplane.plans import ObjectRef
from reconciler.backends.base import BackendError

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


def encode(refs: Iterable[ObjectRef], records: Mapping[ObjectRef, InventoryRecord]) -> bytes:
    """The gzip'd JSON of an inventory (deterministic: the same inventory gives the same bytes)."""
    groups: dict[tuple[str, str, str, str], tuple[InventoryRecord, list[list[Any]]]] = {}
    for ref in refs:
        record = records.get(ref, _NONE)
        key = (record.spec or "", record.tenant or "", record.source or "", record.error or "")
        entry: list[Any] = [ref.api_version, ref.kind, ref.namespace or "", ref.name]
        if record.protected or record.adopted:
            entry.append([f for f, on in ((PROTECTED, record.protected), (ADOPTED, record.adopted)) if on])
        groups.setdefault(key, (record, []))[1].append(entry)
    specs = []
    for key in sorted(groups):
        record, objects = groups[key]
        objects.sort()
        for entry in objects:
            entry[2] = entry[2] or None  # cluster-scoped: sorted as "", stored as null
        group = {"spec": record.spec, "tenant": record.tenant, "source": record.source, "objects": objects}
        specs.append({**group, "error": record.error} if record.error else group)
    return gzip.compress(orjson.dumps({"format": FORMAT, "specs": specs}), mtime=0)


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


class InventoryStore:
    """Reads and writes the inventory ConfigMap through the backend's own requests.

    `get` returns an object or None when it does not exist; `apply` server-side-applies a manifest.
    """

    def __init__(
        self,
        namespace: str,
        get: Callable[[str], dict[str, Any] | None],
        apply: Callable[[str, dict[str, Any]], dict[str, Any]],
    ) -> None:
        self.namespace = namespace
        self.get = get
        self.apply = apply
        self.path = f"/api/v1/namespaces/{quote(namespace)}/configmaps/{CONFIGMAP_NAME}"

    def read(self) -> Inventory:
        try:
            cm = self.get(self.path)
        except BackendError as exc:
            raise BackendError(f"reading mlcp's inventory failed: {exc}") from None
        if cm is None:
            return Inventory()
        blob = (cm.get("binaryData") or {}).get(KEY)
        try:
            refs, records = decode(base64.b64decode(blob, validate=True)) if blob else (frozenset(), {})
        except (UnreadableInventory, binascii.Error, TypeError) as exc:
            raise BackendError(
                f"mlcp's inventory (ConfigMap {self.namespace}/{CONFIGMAP_NAME}, key {KEY}) is unreadable: {exc}; "
                "restore it from a backup, or delete it (then nothing is pruned until it is rebuilt, and tenants "
                "must adopt their namespaces again)"
            ) from None
        meta = cm.get("metadata") or {}
        revision = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
        return Inventory(refs, str(meta.get("resourceVersion", "")), revision, records)

    def write(self, inventory: Inventory, revision: str | None, create: Create | None = None) -> Inventory:
        """Write `inventory` (and the controller namespace, which may not exist yet); the stored version back.

        With `create` (several writers, one per shard), the write is conditional: on `inventory.version` when the
        ConfigMap was read, else a create that fails if another writer made it first. Either way an HttpError 409
        means someone wrote in between: read again, merge, retry.
        """
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        self.apply(f"/api/v1/namespaces/{quote(self.namespace)}", namespace)
        configmap: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": CONFIGMAP_NAME,
                "namespace": self.namespace,
                "labels": {MANAGED_BY: MANAGER, "mlcp.dev/role": "inventory"},
                "annotations": {REVISION_ANNOTATION: revision} if revision else {},
            },
            "binaryData": {KEY: base64.b64encode(encode(inventory.refs, inventory.records)).decode()},
        }
        if create is not None and not inventory.version:
            result = create(self.path.rsplit("/", 1)[0], configmap)
        else:
            if create is not None:
                configmap["metadata"]["resourceVersion"] = inventory.version
            result = self.apply(self.path, configmap)
        version = str((result.get("metadata") or {}).get("resourceVersion", ""))
        return Inventory(inventory.refs, version, revision, inventory.records)
