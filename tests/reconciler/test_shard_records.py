"""Shared records under shards: a shard's writer replaces only its own tenants' entries, over what is stored now.

Two replicas (one backend and one state store each) write one inventory ConfigMap and one revisions ConfigMap in
a fake API server that enforces resourceVersion preconditions, with writes interleaved between a replica's read
and its write. Nothing one writes is ever undone by the other.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from controlplane.inventory import Claim, Inventory, InventoryRecord
from controlplane.plans import Change, ObjectRef, Plan
from reconciler import governance, partition
from reconciler.backends.base import ApplyOptions
from reconciler.backends.kubernetes import KubernetesBackend
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.state import StateStore, TenantRevisions
from tests.reconciler import fakes

NS = "mlcp-system"


class FakeConfigMaps:
    """ConfigMaps by name: GET, POST (409 if it exists), PATCH (apply; 409 when a resourceVersion given differs)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.before_write: list[Any] = []
        """Callables run once, just before the next write (another replica's write landing in between)."""

    def request(self, method: str, path: str, query: Any = None, body: Any = None, *_: Any, **__: Any) -> Any:
        name = path.rstrip("/").rsplit("/", 1)[1]
        if "/configmaps" not in path:
            return {}  # the namespace apply
        if method == "GET":
            if path.endswith("/configmaps"):  # the inventory's LIST in the controller namespace
                return {"items": [copy.deepcopy(o) for o in self.objects.values()]}
            if name not in self.objects:
                raise HttpError(404, "not found", {})
            return copy.deepcopy(self.objects[name])
        while self.before_write:
            self.before_write.pop(0)()
        name = body["metadata"]["name"]
        found = self.objects.get(name)
        if method == "POST" and found is not None:
            raise HttpError(409, "exists", {})
        expected = body["metadata"].get("resourceVersion")
        if expected is not None and (found is None or found["metadata"]["resourceVersion"] != expected):
            raise HttpError(409, "conflict", {})
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[name] = stored
        return copy.deepcopy(stored)


class FakeClient:
    def __init__(self, api: FakeConfigMaps) -> None:
        self.api = api
        self.controller_namespace = NS

    def request(self, method: str, path: str, query: Any = None, body: Any = None, *a: Any, **kw: Any) -> Any:
        return self.api.request(method, path, query, body)

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return dict(self.request("GET", path))
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise

    def server_side_apply(self, path: str, body: Any, field_manager: str, **_: Any) -> dict[str, Any]:
        return dict(self.request("PATCH", path, None, body))


def _ns(tenant: str) -> ObjectRef:
    return ObjectRef("kubernetes", "v1", "Namespace", None, tenant)


def _claim(tenant: str) -> dict[ObjectRef, Claim]:
    return {_ns(tenant): Claim(InventoryRecord(f"Tenant/{tenant}/{tenant}", tenant, "t.yaml"), wrote=True)}


def _scope(tenant: str) -> ApplyOptions:
    return ApplyOptions(claims=_claim(tenant), scope=lambda key: key == tenant)


def _stored(api: FakeConfigMaps) -> Inventory:
    return KubernetesBackend(FakeClient(api)).read_inventory()  # type: ignore[arg-type]


def test_two_shards_writing_the_inventory_never_drop_each_others_objects() -> None:
    api = FakeConfigMaps()
    a, b = (KubernetesBackend(FakeClient(api)) for _ in range(2))  # type: ignore[arg-type]
    a.read_inventory(), b.read_inventory()  # both start from the same (empty) view
    a.forget(), b.forget()
    a.record_inventory(frozenset({_ns("ta")}), _scope("ta"))
    b.record_inventory(frozenset({_ns("tb")}), _scope("tb"))  # b never saw a's write: its view is stale
    assert _stored(api).refs == {_ns("ta"), _ns("tb")}
    assert _stored(api).owner_of(_ns("ta")).tenant == "ta"  # type: ignore[union-attr]


def test_a_write_that_lands_between_a_read_and_a_write_is_merged_not_overwritten() -> None:
    api = FakeConfigMaps()
    a, b = (KubernetesBackend(FakeClient(api)) for _ in range(2))  # type: ignore[arg-type]
    a.record_inventory(frozenset({_ns("ta")}), _scope("ta"))
    api.before_write.append(lambda: b.record_inventory(frozenset({_ns("tb")}), _scope("tb")))
    a.record_inventory(
        frozenset({_ns("ta"), _ns("ta2")}), ApplyOptions(claims=_claim("ta2"), scope=lambda k: k == "ta")
    )
    assert _stored(api).refs == {_ns("ta"), _ns("ta2"), _ns("tb")}, "a read again after the conflict and merged"


def test_a_shard_prunes_only_its_own_entries_and_keeps_the_recorded_revision() -> None:
    api = FakeConfigMaps()
    leader = KubernetesBackend(FakeClient(api))  # type: ignore[arg-type]
    leader.record_inventory(
        frozenset({_ns("ta"), _ns("tb")}), ApplyOptions(claims={**_claim("ta"), **_claim("tb")}, revision="r1")
    )
    shard = KubernetesBackend(FakeClient(api))  # type: ignore[arg-type]
    shard.record_inventory(frozenset(), ApplyOptions(scope=lambda key: key == "ta"))  # ta's namespace was deleted
    stored = _stored(api)
    assert stored.refs == {_ns("tb")} and stored.revision == "r1", "tb untouched; the trusted base not cleared"


def test_shards_merge_their_tenants_revisions_without_undoing_each_other() -> None:
    api = FakeConfigMaps()
    a, b = StateStore(FakeClient(api)), StateStore(FakeClient(api))  # type: ignore[arg-type]
    a.write(TenantRevisions({"": "r0", "ta": "r0", "tb": "r0"}))
    api.before_write.append(lambda: b.merge({"tb": "r2"}))
    a.merge({"ta": "r1"})
    assert StateStore(FakeClient(api)).read().by_tenant == {"": "r0", "ta": "r1", "tb": "r2"}  # type: ignore[arg-type]
    before = api.version
    a.merge({"ta": "r1"})
    assert api.version == before, "nothing new: no write"


def test_a_shard_lane_plans_only_its_tenants_and_the_governance_objects_only_in_the_platform_lane() -> None:
    def made(name: str, tenant: str | None, system: str = "kubernetes") -> Change:
        return replace(fakes.change(name, system), tenant=tenant)

    plan = Plan((made("a", "ta"), made("b", "tb"), made("role", None), made("policy", None, governance.SYSTEM)))

    def names(lane: Plan) -> list[str]:
        return [c.ref.name for c in lane.changes]

    assert names(partition.narrow(plan, lambda key: key == "ta", platform=False)) == ["a"]
    assert names(partition.narrow(plan, lambda key: not key, platform=True)) == ["role", "policy"]
