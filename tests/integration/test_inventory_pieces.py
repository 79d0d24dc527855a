"""The inventory's pieces on the real API server: an older single ConfigMap is migrated (and a crash in the middle
loses nothing), and a piece edited with ConfigMap write, or planted in a tenant's namespace, is never believed."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane.inventory import Claim, Inventory, InventoryRecord
from controlplane.plans import ObjectRef
from reconciler.auditstore import ClusterStore
from reconciler.backends import kubernetes_inventory as codec
from reconciler.backends import kubernetes_pieces as pieces
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import KubeClient
from tests.controlplane.audit.conftest import make_record

pytestmark = pytest.mark.integration
TENANTS = [f"team-{i}" for i in range(24)]


def _record(tenant: str) -> InventoryRecord:
    return InventoryRecord(f"Tenant/{tenant}/{tenant}", tenant, f"tenants/{tenant}/tenant.yaml")


def _ns(tenant: str) -> ObjectRef:
    return ObjectRef("kubernetes", "v1", "Namespace", None, tenant)


def _old() -> Inventory:
    records = {_ns(t): _record(t) for t in TENANTS}
    return Inventory(frozenset(records), records=records)


@pytest.fixture
def kube(kubeconfig: Path, namespace: str) -> KubeClient:
    """A client whose controller namespace is this test's own."""
    return KubeClient.from_kubeconfig(str(kubeconfig), None, namespace)


@pytest.fixture
def core(k8s_admin: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(k8s_admin)


def _blob(core: client.CoreV1Api, namespace: str, name: str) -> bytes:
    found = core.read_namespaced_config_map(name, namespace)
    return base64.b64decode((found.binary_data or {})[codec.KEY])


def _legacy(core: client.CoreV1Api, namespace: str) -> None:
    old = _old()
    body = {
        "metadata": {
            "name": pieces.INDEX,
            "labels": {"app.kubernetes.io/managed-by": "mlcp", "mlcp.dev/role": "inventory"},
            "annotations": {codec.REVISION_ANNOTATION: "r0"},
        },
        "binaryData": {codec.KEY: base64.b64encode(codec.encode(old.refs, old.records)).decode()},
    }
    core.create_namespaced_config_map(namespace, body)


@pytest.fixture
def crash_on_index(kube: KubeClient) -> Iterator[None]:
    original = kube.request

    def request(method: str, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if method == "PATCH" and path.endswith(f"/configmaps/{pieces.INDEX}"):
            raise HttpError(503, "the controller died here", {})
        return original(method, path, *args, **kwargs)

    kube.request = request  # type: ignore[method-assign]
    yield
    kube.request = original  # type: ignore[method-assign]


def test_a_single_configmap_is_migrated_and_a_crash_before_the_index_loses_nothing(
    kube: KubeClient, core: client.CoreV1Api, namespace: str, crash_on_index: None
) -> None:
    _legacy(core, namespace)
    store = pieces.PieceStore(namespace, kube)
    read = store.read()
    assert dict(read.records) == dict(_old().records) and read.revision == "r0"
    with pytest.raises(HttpError):
        store.write(read.updated(read.refs, {_ns("new"): Claim(_record("new"), wrote=True)}), "r1")
    names = {cm.metadata.name for cm in core.list_namespaced_config_map(namespace).items}
    assert set(pieces.PIECES) <= names, "the pieces were written before the crash"
    assert codec.decode(_blob(core, namespace, pieces.INDEX))[1] == dict(_old().records), "the old one is intact"
    again = pieces.PieceStore(namespace, kube).read()
    assert dict(again.records) == dict(_old().records) and again.revision == "r0"


def test_migration_then_pieces_read_back(kube: KubeClient, core: client.CoreV1Api, namespace: str) -> None:
    _legacy(core, namespace)
    store = pieces.PieceStore(namespace, kube)
    read = store.read()
    store.write(read.updated(read.refs | {_ns("new")}, {_ns("new"): Claim(_record("new"), wrote=True)}), "r1")
    index = json.loads(gzip.decompress(_blob(core, namespace, pieces.INDEX)))
    assert index["format"] == 3 and "specs" not in index, "the old blob is replaced by the index"
    back = pieces.PieceStore(namespace, kube)
    inventory = back.read()
    assert dict(inventory.records) == {**_old().records, _ns("new"): _record("new")} and inventory.revision == "r1"
    assert back.problems == ()
    before = kube.requests
    inventory = back.write(inventory.updated(inventory.refs - {_ns("team-3")}, {}), "r2")
    assert kube.requests - before == 2, "one tenant's change: the index and that tenant's piece"
    assert _ns("team-3") not in pieces.PieceStore(namespace, kube).read().refs


def test_a_read_lists_the_index_and_pieces_only_never_the_audit_log_beside_them(
    kube: KubeClient, core: client.CoreV1Api, namespace: str
) -> None:
    """The cluster audit log lives in the same namespace with the same managed-by label and grows without end: a
    read that listed it downloaded the whole log every pass (at 10,000 tenants, most of a replica's memory)."""
    _legacy(core, namespace)  # an older mlcp's single ConfigMap is still found, so still migrated
    for chain in ("", "shard-3"):
        ClusterStore(kube, chain).append_many([make_record(i) for i in range(3)])
    others = {"mlcp-anchor": "audit-anchor", "mlcp-state": "reconciler-state", "stray": "inventory-pieces"}
    for name, role in others.items():
        labels = {"app.kubernetes.io/managed-by": "mlcp", "mlcp.dev/role": role}
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})
    store = pieces.PieceStore(namespace, kube)
    read = store.read()
    store.write(read.updated(read.refs | {_ns("new")}, {_ns("new"): Claim(_record("new"), wrote=True)}), "r1")
    listed: list[list[str]] = []
    original = kube.request

    def request(method: str, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = original(method, path, *args, **kwargs)
        if method == "GET" and path.endswith("/configmaps"):
            listed.append(sorted(str(item["metadata"]["name"]) for item in answer.get("items") or []))
        return answer

    kube.request = request  # type: ignore[method-assign]
    fresh = pieces.PieceStore(namespace, kube)
    inventory = fresh.read()
    assert dict(inventory.records) == {**_old().records, _ns("new"): _record("new")} and fresh.problems == ()
    every = {item.metadata.name for item in core.list_namespaced_config_map(namespace).items}
    assert {"mlcp-audit", "mlcp-audit-shard-3", *others} <= every, "the audit log and the rest are there"
    assert listed == [sorted(n for n in every if n == pieces.INDEX or n in pieces.PIECES)], "the read's one LIST"


def test_a_piece_edited_with_configmap_write_or_planted_in_a_tenant_namespace_is_never_believed(
    kube: KubeClient, core: client.CoreV1Api, namespace: str
) -> None:
    store = pieces.PieceStore(namespace, kube)
    store.read()
    store.write(_old(), "r1")
    home = pieces.piece_of("team-1")
    victim = ObjectRef("kubernetes", "v1", "Namespace", None, "kube-system")
    forged = {_ns("team-1"): InventoryRecord("Tenant/team-1/team-1", "team-1", "t.yaml", adopted=True)}
    forged[victim] = _record("team-1")
    blob = base64.b64encode(codec.encode(frozenset(forged), forged)).decode()
    core.patch_namespaced_config_map(home, namespace, {"binaryData": {codec.KEY: blob}})
    planted = {"metadata": {"name": pieces.NONE, "labels": {"app.kubernetes.io/managed-by": "mlcp"}}}
    core.create_namespaced_config_map("default", {**planted, "binaryData": {codec.KEY: blob}})
    try:
        fresh = pieces.PieceStore(namespace, kube)
        read = fresh.read()
        assert victim not in read.refs and _ns("team-1") not in read.refs
        assert any(home in p and "not a version mlcp wrote" in p for p in fresh.problems), fresh.problems
        with pytest.raises(BackendError, match="unreadable"):
            fresh.write(
                read.updated(read.refs | {_ns("team-1")}, {_ns("team-1"): Claim(_record("team-1"), True)}), "r2"
            )
        assert base64.b64encode(_blob(core, namespace, home)).decode() == blob, "never written over"
    finally:
        core.delete_namespaced_config_map(pieces.NONE, "default")
