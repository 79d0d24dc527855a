"""What the cluster's objects are to mlcp: resource types and their paths, and a listed item as live state.

Every reader of the cluster (the backend's lists, the watch cache, the loop's state, the audit store) names
an object type by `ResourceType` and turns what the API server sent into a `LiveObject` the same way: reduced
to what the diff reads, with equal field sets and metadata strings shared between objects, so 10,000 tenants'
live state fits in memory (docs/performance.md). Pure: no request is made here (the transport is
`kubernetes_client`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from controlplane import diffing
from controlplane.plans import LiveObject, ObjectRef

SYSTEM = "kubernetes"
"""The system name in the refs of Kubernetes objects."""


@dataclass(frozen=True)
class ResourceType:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def base(self) -> str:
        return "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"

    def collection(self, namespace: str | None = None) -> str:
        scope = f"/namespaces/{quote(namespace)}" if namespace and self.namespaced else ""
        return f"{self.base()}{scope}/{self.plural}"

    def path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection(namespace)}/{quote(name)}"


SHARED_FIELD_SETS = 4096
"""Distinct field sets kept for sharing; objects of one kind and shape share one (9 shapes at 10,000 tenants)."""
_field_sets: dict[bytes, list[dict[str, Any]]] = {}
SHARED_STRINGS = 1 << 18
"""Distinct names, namespaces, label and annotation values kept for sharing; the pool starts again when full."""
_strings: dict[str, str] = {}


def live_object(rtype: ResourceType, item: dict[str, Any]) -> LiveObject:
    """A listed or watched item as the planner sees it: reduced to what the diff reads (diffing.compact).

    mlcp's field set is the same for every object of one kind and shape, so equal ones are shared: one
    list (read-only, as all live state is) instead of one per object. So are equal strings of the metadata
    (`_share_metadata`), and the metadata is copied into a dict sized for what is left of it.
    """
    item.setdefault("apiVersion", rtype.api_version)
    item.setdefault("kind", rtype.kind)
    meta = item.get("metadata") or {}
    version = str(meta.get("resourceVersion", ""))
    diffing.compact(item)
    _share_metadata(meta)
    owned = meta.get("managedFields")
    if owned:
        key = orjson.dumps(owned, option=orjson.OPT_SORT_KEYS)
        shared = _field_sets.get(key)
        if shared is None and len(_field_sets) < SHARED_FIELD_SETS:
            shared = _field_sets.setdefault(key, owned)
        if shared is not None:
            meta["managedFields"] = shared
    if "metadata" in item:
        meta = item["metadata"] = dict(meta)  # a dict keeps its table when keys are popped: copy it smaller
    ref = ObjectRef(SYSTEM, rtype.api_version, rtype.kind, meta.get("namespace"), meta["name"])
    return LiveObject(ref, item, version)


def _share_metadata(meta: dict[str, Any]) -> None:
    """Equal names, namespaces, label and annotation values become one string (read-only, like all live state).

    They repeat: a tenant's name is in each of its objects' namespace and labels, the source commit and
    `mlcp` in every object, Pod Security levels in every namespace. At 10,000 tenants this is about a
    quarter of the live objects' bytes (docs/performance.md, "Memory at 10,000 tenants").
    """
    if len(_strings) >= SHARED_STRINGS:
        _strings.clear()  # bounded: objects keep the strings they have; new ones share from a new pool
    pool = _strings
    for key in ("name", "namespace"):
        value = meta.get(key)
        if isinstance(value, str):
            meta[key] = pool.setdefault(value, value)
    for key in ("labels", "annotations"):
        values = meta.get(key)
        if isinstance(values, dict):
            for name, value in values.items():  # replacing values of existing keys: the dict's size is unchanged
                if isinstance(value, str):
                    values[name] = pool.setdefault(value, value)


CONFIGMAP = ResourceType("v1", "ConfigMap", "configmaps", True)
NAMESPACE = ResourceType("v1", "Namespace", "namespaces", False)
