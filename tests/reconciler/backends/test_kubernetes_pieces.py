"""The inventory in pieces: one tenant's change writes one piece and the index; an older single ConfigMap is
migrated without losing anything to a crash; a piece that is missing, edited, misplaced or foreign never makes mlcp
delete or adopt anything (tried as an attacker with ConfigMap write would)."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from controlplane.inventory import Claim, Inventory, InventoryRecord
from controlplane.plans import ObjectRef
from reconciler.backends import kubernetes_inventory as codec
from reconciler.backends import kubernetes_pieces as pieces
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_answers import HttpError
from tests.reconciler.memkube import MemoryKube

SYS = "mlcp-system"
CMS = f"/api/v1/namespaces/{SYS}/configmaps"


def _ns(tenant: str) -> ObjectRef:
    return ObjectRef("kubernetes", "v1", "Namespace", None, tenant)


def _sa(tenant: str) -> ObjectRef:
    return ObjectRef("kubernetes", "v1", "ServiceAccount", tenant, "mlcp-workload")


def _record(tenant: str) -> InventoryRecord:
    return InventoryRecord(f"Tenant/{tenant}/{tenant}", tenant, f"tenants/{tenant}/tenant.yaml")


PLATFORM = ObjectRef("kubernetes", "rbac.authorization.k8s.io/v1", "ClusterRole", None, "mlcp-deployer")


def _inventory(tenants: int) -> Inventory:
    records = {ref: _record(f"t{i}") for i in range(tenants) for ref in (_ns(f"t{i}"), _sa(f"t{i}"))}
    records[PLATFORM] = InventoryRecord("Platform/p", None, "mlcp.yaml")
    return Inventory(frozenset(records), records=records)


def _store(kube: MemoryKube) -> pieces.PieceStore:
    return pieces.PieceStore(SYS, kube)


def _written(kube: MemoryKube, tenants: int = 40, revision: str = "r1") -> pieces.PieceStore:
    store = _store(kube)
    store.read()
    store.write(_inventory(tenants), revision)
    return store


def _patches(kube: MemoryKube, since: int) -> list[str]:
    return [path.rsplit("/", 1)[1] for method, path in kube.calls[since:] if method in ("PATCH", "POST")]


def _piece_path(tenant: str) -> str:
    return f"{CMS}/{pieces.piece_of(tenant)}"


def _set_blob(kube: MemoryKube, path: str, blob: bytes) -> None:
    kube.objects[path]["binaryData"][codec.KEY] = base64.b64encode(blob).decode()


def test_a_round_trip_keeps_every_record_and_the_revision() -> None:
    kube = MemoryKube(SYS)
    _written(kube)
    back = _store(kube).read()
    assert back == _inventory(40).at(back.version, "r1") and dict(back.records) == dict(_inventory(40).records)
    assert f"/api/v1/namespaces/{SYS}" in kube.objects, "the controller namespace is made on the first write"
    index = json.loads(
        gzip.decompress(base64.b64decode(kube.objects[f"{CMS}/{pieces.INDEX}"]["binaryData"][codec.KEY]))
    )
    assert index["format"] == 3 and set(index["pieces"]) == set(pieces.PIECES)
    assert pieces.piece_of("t1") == pieces.piece_of("t1") != pieces.NONE and pieces.piece_of("") == pieces.NONE


def test_one_tenants_change_writes_the_index_and_that_tenants_piece_only() -> None:
    for tenants in (40, 400):
        kube = MemoryKube(SYS)
        store = _written(kube, tenants)
        before, prior = len(kube.calls), store.stored
        assert prior is not None
        claims = {_sa("t7"): Claim(InventoryRecord("Pipeline/t7/p", "t7", "tenants/t7/p.yaml"), wrote=True)}
        store.write(prior.updated(prior.refs, claims), "r2")
        assert _patches(kube, before) == [pieces.INDEX, pieces.piece_of("t7")], f"at {tenants} tenants"
        assert _store(kube).read().owner_of(_sa("t7")) == claims[_sa("t7")].record


def test_an_older_mlcp_refuses_the_index_instead_of_reading_nothing() -> None:
    kube = MemoryKube(SYS)
    _written(kube)
    blob = base64.b64decode(kube.objects[f"{CMS}/{pieces.INDEX}"]["binaryData"][codec.KEY])
    with pytest.raises(codec.UnreadableInventory, match="format 3 is not 2"):
        codec.decode(blob)


@pytest.mark.parametrize("blob", [b"not gzip", gzip.compress(b"{not json"), gzip.compress(b'{"format": 9}')])
def test_an_index_that_is_not_an_inventory_is_refused_naming_the_configmap(blob: bytes) -> None:
    kube = MemoryKube(SYS)
    _written(kube)
    _set_blob(kube, f"{CMS}/{pieces.INDEX}", blob)
    with pytest.raises(BackendError, match=r"ConfigMap mlcp-system/mlcp-inventory.*unreadable"):
        _store(kube).read()


def _legacy(kube: MemoryKube, blob: bytes) -> None:
    kube.request("PATCH", f"/api/v1/namespaces/{SYS}", body={"metadata": {"name": SYS}})
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": pieces.INDEX,
            "namespace": SYS,
            "labels": {"app.kubernetes.io/managed-by": "mlcp", "mlcp.dev/role": "inventory"},
            "annotations": {codec.REVISION_ANNOTATION: "r0"},
        },
        "binaryData": {codec.KEY: base64.b64encode(blob).decode()},
    }
    kube.request("PATCH", f"{CMS}/{pieces.INDEX}", body=body)


@pytest.mark.parametrize("version", [1, 2])
def test_a_single_configmap_inventory_is_migrated_to_pieces(version: int) -> None:
    old = _inventory(30)
    blob = (
        codec.encode(old.refs, old.records)
        if version == 2
        else gzip.compress(json.dumps([ref.to_dict() for ref in old.refs]).encode())
    )
    kube = MemoryKube(SYS)
    _legacy(kube, blob)
    store = _store(kube)
    read = store.read()
    expected = dict(old.records) if version == 2 else {}
    assert read.refs == old.refs and dict(read.records) == expected and read.revision == "r0"
    since = len(kube.calls)
    store.write(read, "r0")  # nothing changed, but the format did
    written = _patches(kube, since)
    assert written[0] == SYS, "the namespace, as on a first write"
    assert written[-1] == pieces.INDEX and set(written[1:-1]) == set(pieces.PIECES), "pieces first, the index last"
    back = _store(kube).read()
    assert back.refs == old.refs and dict(back.records) == expected and back.revision == "r0"


def test_a_crash_during_migration_loses_nothing() -> None:
    old = _inventory(30)
    kube = MemoryKube(SYS)
    _legacy(kube, codec.encode(old.refs, old.records))
    store = _store(kube)
    read = store.read()
    original = kube.request

    def crash_on_the_index(method: str, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if method == "PATCH" and path.endswith(f"/{pieces.INDEX}"):
            raise HttpError(500, "crashed", {})
        return original(method, path, *args, **kwargs)

    kube.request = crash_on_the_index  # type: ignore[method-assign]
    claims = {_sa("t3"): Claim(_record("t3"), wrote=True)}
    with pytest.raises(HttpError):
        store.write(read.updated(read.refs, claims), "r1")
    kube.request = original  # type: ignore[method-assign]
    again = _store(kube).read()
    assert again.refs == old.refs and dict(again.records) == dict(old.records) and again.revision == "r0"
    assert all(f"{CMS}/{name}" in kube.objects for name in pieces.PIECES), "the pieces were written before the crash"
    _store(kube).write(again, "r0")
    assert dict(_store(kube).read().records) == dict(old.records)


def test_a_crash_between_the_index_and_a_piece_leaves_a_piece_the_index_accepts() -> None:
    kube = MemoryKube(SYS)
    store = _written(kube)
    prior = store.stored
    assert prior is not None
    original = kube.request

    def crash_on_pieces(method: str, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if method == "PATCH" and f"/{pieces.INDEX}-" in path:
            raise HttpError(500, "crashed", {})
        return original(method, path, *args, **kwargs)

    kube.request = crash_on_pieces  # type: ignore[method-assign]
    with pytest.raises(HttpError):
        store.write(prior.updated(prior.refs - {_sa("t5")}, {}), "r2")
    kube.request = original  # type: ignore[method-assign]
    fresh = _store(kube)
    back = fresh.read()
    assert fresh.problems == () and _sa("t5") in back.refs, "the old piece is still accepted"


def test_a_piece_edited_out_of_band_is_unreadable_blocks_its_tenants_only_and_is_never_overwritten() -> None:
    kube = MemoryKube(SYS)
    _written(kube)
    victim = ObjectRef("kubernetes", "v1", "Namespace", None, "kube-system")
    forged = {_ns("t1"): _record("t1"), victim: _record("t1")}  # an attacker's record: "kube-system is t1's"
    _set_blob(kube, _piece_path("t1"), codec.encode(frozenset(forged), forged))
    store = _store(kube)
    read = store.read()
    assert victim not in read.refs and _ns("t1") not in read.refs, "none of the edited piece's objects is recorded"
    assert any("not a version mlcp wrote" in p and pieces.piece_of("t1") in p for p in store.problems)
    other = next(f"t{i}" for i in range(40) if pieces.piece_of(f"t{i}") != pieces.piece_of("t1"))
    assert read.owner_of(_ns(other)) == _record(other), "the other pieces are read"
    edited = kube.objects[_piece_path("t1")]["binaryData"][codec.KEY]
    with pytest.raises(BackendError, match=f"{pieces.piece_of('t1')} are unreadable"):
        store.write(read.updated(read.refs | {_ns("t1")}, {_ns("t1"): Claim(_record("t1"), wrote=True)}), "r2")
    assert kube.objects[_piece_path("t1")]["binaryData"][codec.KEY] == edited, "never written over"
    fresh = _store(kube)
    again = fresh.read()
    fresh.write(again.updated(again.refs - {_sa(other)}, {}), "r3")
    assert _sa(other) not in _store(kube).read().refs, "a write of another piece goes through"


def test_a_piece_that_records_another_buckets_tenant_is_unreadable_even_with_a_digest_the_index_accepts() -> None:
    kube = MemoryKube(SYS)
    _written(kube)
    home = pieces.piece_of("t1")
    stranger = next(f"x{i}" for i in range(100) if pieces.piece_of(f"x{i}") != home)
    forged = {_ns(stranger): _record(stranger)}
    blob = codec.encode(frozenset(forged), forged)
    _set_blob(kube, _piece_path("t1"), blob)
    index_path = f"{CMS}/{pieces.INDEX}"
    index = json.loads(gzip.decompress(base64.b64decode(kube.objects[index_path]["binaryData"][codec.KEY])))
    index["pieces"][home] = [pieces._digest(blob)]
    _set_blob(kube, index_path, gzip.compress(json.dumps(index).encode()))
    store = _store(kube)
    read = store.read()
    assert _ns(stranger) not in read.refs and any("which belongs in" in p for p in store.problems)


def test_a_missing_piece_is_read_as_empty_with_a_note_and_foreign_configmaps_are_never_read() -> None:
    kube = MemoryKube(SYS)
    store = _written(kube)
    prior = store.stored
    assert prior is not None
    store.write(prior.updated(prior.refs, {_sa("t2"): Claim(_record("t2"), wrote=True)}), "r2")  # accepted: 1 digest
    del kube.objects[_piece_path("t2")]
    forged = {_ns("t2"): InventoryRecord("Tenant/t2/t2", "t2", "x.yaml", adopted=True)}
    blob = base64.b64encode(codec.encode(frozenset(forged), forged)).decode()
    tenant_cm = f"/api/v1/namespaces/t2/configmaps/{pieces.piece_of('t2')}"  # a tenant's own ConfigMap write
    kube.objects[tenant_cm] = {"metadata": {"name": pieces.piece_of("t2")}, "binaryData": {codec.KEY: blob}}
    fresh = _store(kube)
    read = fresh.read()
    assert _ns("t2") not in read.refs, "neither the missing piece nor a tenant namespace's look-alike is read"
    assert any("is missing" in p for p in fresh.problems)
    assert read.owner_of(_ns("t3")) == _record("t3") or pieces.piece_of("t3") == pieces.piece_of("t2")
