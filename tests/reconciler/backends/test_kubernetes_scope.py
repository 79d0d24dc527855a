"""Which objects a sharded replica keeps: by namespace, through mlcp's records of whose namespace is whose."""

from __future__ import annotations

from controlplane.inventory import Inventory, InventoryRecord
from controlplane.plans import ObjectRef
from reconciler.backends.kubernetes_scope import Scope, recorded_namespaces, scope_for


def _ref(kind: str, namespace: str | None, name: str, api_version: str = "v1") -> ObjectRef:
    return ObjectRef("kubernetes", api_version, kind, namespace, name)


def test_a_namespace_is_dropped_only_when_every_tenant_claiming_it_is_anothers() -> None:
    recorded = {"ns-a": "a", "ns-b": "b", "ns-moved": "c"}
    declared = {"a": "ns-a", "b": "ns-b", "d": "ns-moved", "e": "ns-new"}
    scope = scope_for(recorded, declared, lambda tenant: tenant in {"a", "d"})
    assert scope.dropped == {"ns-b", "ns-new"}, "ns-moved is claimed by d, which is held"
    assert scope.keeps(_ref("ResourceQuota", "ns-a", "q"))
    assert not scope.keeps(_ref("ResourceQuota", "ns-b", "q"))
    assert not scope.keeps(_ref("Namespace", None, "ns-b")), "a Namespace is routed by its own name"
    assert scope.keeps(_ref("ClusterRole", None, "ns-b", "rbac.authorization.k8s.io/v1")), "no namespace: kept"
    assert scope.keeps(_ref("ConfigMap", "kube-public", "x")), "a namespace no record names: kept by every replica"


def test_labels_and_annotations_on_a_live_object_route_nothing() -> None:
    scope = Scope(frozenset({"ns-b"}))
    forged = {
        "metadata": {
            "name": "q",
            "namespace": "ns-b",
            "labels": {"mlcp.dev/tenant": "a", "mlcp.dev/spec": "Tenant/a"},
            "annotations": {"mlcp.dev/source": "tenants/a/tenant.yaml"},
        }
    }
    assert not scope.keeps_item("v1", "ResourceQuota", forged), "in b's namespace it is b's, whatever it says"
    assert scope.keeps_item("v1", "ResourceQuota", {"metadata": {"name": "q", "namespace": "ns-a"}})


def test_the_recorded_namespaces_are_the_inventorys_namespace_records_with_a_tenant() -> None:
    ns_a, ns_x, quota = (
        _ref("Namespace", None, "ns-a"),
        _ref("Namespace", None, "ns-x"),
        _ref("ResourceQuota", "ns-a", "q"),
    )
    records = {
        ns_a: InventoryRecord("Tenant/a", "a", "tenants/a/tenant.yaml"),
        ns_x: InventoryRecord(None, None, None, error="unreadable"),
        quota: InventoryRecord("Tenant/b", "b", "tenants/b/tenant.yaml"),
    }
    assert recorded_namespaces(Inventory(frozenset(records), records=records)) == {"ns-a": "a"}
