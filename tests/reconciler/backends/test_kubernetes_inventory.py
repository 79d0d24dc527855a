"""The inventory's stored bytes (a piece, or an older single ConfigMap): records survive a round trip, old and
tampered blobs never crash a read."""

from __future__ import annotations

import base64
import gzip
import json
import random
import time
from typing import Any

import pytest

from controlplane.inventory import Claim, Inventory, InventoryRecord
from controlplane.plans import ObjectRef
from reconciler.backends import kubernetes_inventory as codec

NS = ObjectRef("kubernetes", "v1", "Namespace", None, "team")
SA = ObjectRef("kubernetes", "v1", "ServiceAccount", "team", "mlcp-workload")
WT = ObjectRef("kubernetes", "argoproj.io/v1alpha1", "WorkflowTemplate", "team", "train")
TENANT = InventoryRecord("Tenant/team/team", "team", "tenants/team/tenant.yaml")


def _blob(data: Any) -> bytes:
    return gzip.compress(json.dumps(data).encode())


def test_records_round_trip_grouped_by_spec() -> None:
    records = {
        NS: InventoryRecord(TENANT.spec, TENANT.tenant, TENANT.source, protected=True, adopted=True),
        SA: TENANT,
        WT: InventoryRecord("Pipeline/team/train", "team", "tenants/team/pipelines/train.yaml"),
    }
    legacy = ObjectRef("kubernetes", "v1", "ResourceQuota", "team", "q")
    blob = codec.encode({NS, SA, WT, legacy}, records)
    refs, back = codec.decode(blob)
    assert refs == {NS, SA, WT, legacy} and back == records, "an object without a record stays without one"
    stored = json.loads(gzip.decompress(blob))
    assert len(stored["specs"]) == 3, "one group per spec (plus one for unattributed objects)"
    assert codec.encode({NS, SA, WT, legacy}, records) == blob, "deterministic: an unchanged inventory is not rewritten"


def test_an_inventory_written_by_an_older_mlcp_is_read_without_records() -> None:
    refs, records = codec.decode(_blob([NS.to_dict(), SA.to_dict(), {"garbage": 1}, "x"]))
    assert refs == {NS, SA} and records == {}


def test_a_tampered_group_makes_unreadable_records_for_its_objects_only() -> None:
    ns, sa = [NS.api_version, NS.kind, None, NS.name], [SA.api_version, SA.kind, SA.namespace, SA.name]
    stored = {
        "format": 2,
        "specs": [
            {"spec": "Tenant/team/team", "tenant": "other", "source": "x.yaml", "objects": [ns]},
            {"spec": "Pipeline/team/train", "tenant": "team", "source": "p.yaml", "objects": [[*sa, ["root"]]]},
            {"spec": "Tenant/ok/ok", "tenant": "ok", "source": "t.yaml", "objects": [[*WT.to_dict().values()][1:]]},
            {"spec": None, "objects": "not a list"},
            "not a group",
            {"spec": None, "tenant": None, "source": None, "objects": [[1, 2, 3, 4], ["v1"], [None, "K", None, "n"]]},
        ],
    }
    refs, records = codec.decode(_blob(stored))
    assert refs == {NS, SA, WT}
    assert "does not belong to tenant 'other'" in str(records[NS].error)
    assert "flags ['root'] are not" in str(records[SA].error)
    assert records[WT] == InventoryRecord("Tenant/ok/ok", "ok", "t.yaml")


def test_an_unreadable_record_stays_unreadable_when_written_again() -> None:
    broken = InventoryRecord(None, None, None, error="tenant is 7")
    _, records = codec.decode(codec.encode({SA}, {SA: broken}))
    assert records[SA] == broken


def test_ninety_thousand_records_fit_well_under_the_configmap_limit() -> None:
    """The benchmark's shape at 10,000 tenants: measured ~450 KB after base64 (the limit is 1 MiB)."""
    refs: set[ObjectRef] = set()
    records: dict[ObjectRef, InventoryRecord] = {}
    names = ["mlcp-workload", "mlcp-deployer", "mlcp-admin", "mlcp-edit"]
    for i in range(10_000):
        tenant = f"bench-team-{i:05d}"
        record = InventoryRecord(f"Tenant/{tenant}/{tenant}", tenant, f"tenants/{tenant}/tenant.yaml")
        objs = [ObjectRef("kubernetes", "v1", "Namespace", None, tenant)]
        objs += [ObjectRef("kubernetes", "v1", "ServiceAccount", tenant, n) for n in names[:2]]
        objs += [ObjectRef("kubernetes", "rbac.authorization.k8s.io/v1", "RoleBinding", tenant, n) for n in names]
        objs += [ObjectRef("kubernetes", "rbac.authorization.k8s.io/v1", "Role", tenant, names[0])]
        objs += [ObjectRef("kubernetes", "networking.k8s.io/v1", "NetworkPolicy", tenant, "mlcp-isolation")]
        for ref in objs:
            refs.add(ref)
            records[ref] = InventoryRecord(record.spec, record.tenant, record.source, protected=ref.kind == "Namespace")
    started = time.perf_counter()
    size = len(base64.b64encode(codec.encode(refs, records)))
    assert len(refs) == 90_000 and size < 600_000, f"{size} bytes"
    assert time.perf_counter() - started < 10


def _tenant_records(tenant: str, **flags: bool) -> InventoryRecord:
    return InventoryRecord(f"Tenant/{tenant}/{tenant}", tenant, f"tenants/{tenant}/tenant.yaml", **flags)


def test_the_encoder_writes_what_encode_writes_as_inventories_change() -> None:
    """Objects added, removed, re-attributed, flagged, unreadable, unrecorded: each step gives encode's bytes."""
    rng = random.Random(16)
    pool = [
        ObjectRef("kubernetes", "v1", kind, ns, name)
        for kind in ("Namespace", "ServiceAccount")
        for ns in (None, "a", "b")
        for name in ("x", "y", "z")
    ]
    choices = [
        _tenant_records("a"),
        _tenant_records("b"),
        _tenant_records("a", protected=True),
        _tenant_records("b", adopted=True, protected=True),
        InventoryRecord(None, None, None, error="spec is 3"),
        None,  # an object an older mlcp recorded without attribution
    ]
    encoder = codec.Encoder()
    refs: frozenset[ObjectRef] = frozenset()
    records: dict[ObjectRef, InventoryRecord] = {}
    for step in range(200):
        if step == 100:
            encoder.prime(refs, records)  # as after a read
        records = dict(records)  # a new inventory's records: the old mapping stays as it was
        for ref in rng.sample(pool, 3):
            record = rng.choice(choices)
            if rng.random() < 0.3:
                refs, _ = refs - {ref}, records.pop(ref, None)
                continue
            refs = refs | {ref}
            if record is None:
                records.pop(ref, None)
            else:
                records[ref] = record
        assert encoder.encode(refs, records) == codec.encode(refs, records), f"step {step}"
    assert codec.decode(encoder.encode(refs, records)) == (refs, records)


def test_encoding_an_inventory_with_one_tenant_changed_serializes_only_that_tenant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The work of a write follows the change: entries serialized per encode, at two sizes."""
    serialized: list[int] = []
    group = codec._group

    def counted(key: codec.GroupKey, entries: list[list[Any]]) -> bytes:
        serialized.append(len(entries))
        return group(key, entries)

    monkeypatch.setattr(codec, "_group", counted)
    for tenants in (10, 1000):
        records = {
            ObjectRef("kubernetes", "v1", kind, f"t{i}", kind.lower()): _tenant_records(f"t{i}")
            for i in range(tenants)
            for kind in ("ServiceAccount", "Role", "RoleBinding")
        }
        encoder = codec.Encoder()
        encoder.prime(frozenset(records), records)
        changed = dict(records)
        new = ObjectRef("kubernetes", "v1", "ConfigMap", "t1", "new")
        changed[new] = _tenant_records("t1")
        serialized.clear()
        assert encoder.encode(frozenset(changed), changed) == codec.encode(changed, changed)
        assert serialized[0] == 4, "one group, of the changed tenant's 4 objects"


def test_the_encoder_follows_an_inventory_updated_from_the_one_it_encoded() -> None:
    """`Inventory.updated` says which records it changed: the encoder trusts that only for the records it saw."""
    refs = {ObjectRef("kubernetes", "v1", "ServiceAccount", f"t{i}", "sa") for i in range(5)}
    records = {ref: _tenant_records(str(ref.namespace)) for ref in refs}
    stored = Inventory(frozenset(refs), "1", "r", records)
    encoder = codec.Encoder()
    encoder.prime(stored.refs, stored.records)
    new = ObjectRef("kubernetes", "v1", "ConfigMap", "t1", "new")
    claims = {new: Claim(_tenant_records("t1"), wrote=True), NS: Claim(TENANT, wrote=True)}
    updated = stored.updated(stored.refs - {min(refs)} | {new, NS}, claims)
    assert updated.changed_from is not None and updated.changed_from[0] is stored.records
    blob = encoder.encode(updated.refs, updated.records, updated.changed_from)
    assert blob == codec.encode(updated.refs, updated.records)
    again = updated.updated(updated.refs, {new: Claim(_tenant_records("t2"), wrote=True)})
    assert encoder.encode(again.refs, again.records, again.changed_from) == codec.encode(again.refs, again.records)
    stale = stored.updated(stored.refs, {new: Claim(TENANT, wrote=True)})  # made from records it did not encode last
    assert encoder.encode(stale.refs, stale.records, stale.changed_from) == codec.encode(stale.refs, stale.records)
