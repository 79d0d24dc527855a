"""Shard lanes are incremental: a converged shard's next pass plans nothing, as the single lane's does.

One replica's Reconciler runs the platform lane and two shard lanes, one after another, over the in-memory
client (tests/reconciler/memkube.py) with its watch cache. The loader's "rendered again" and the watch's
"changed" are each told once, to whichever lane asks first; each lane must still hear of what concerns it.
Work is counted (objects planned, tenants selected), never timed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.audit import JsonlStore
from controlplane.plans import Action, Change, Decision, LiveObject, ObjectRef, SpecKey
from devenv import tenantrepo
from reconciler import sharding
from reconciler.fencing import Fence
from reconciler.lane import Lane
from reconciler.passaudit import PassAudit
from reconciler.passes import Reconciler
from reconciler.verdicts import PassResult
from tests.reconciler.test_pass_cost import NAMESPACE, _reconciler

SHARDS = 2
TENANTS = 8


def _lanes(rec: Reconciler, tmp_path: Path) -> dict[str, Lane]:
    def lane(name: str, covers: object, platform: bool) -> Lane:
        store = JsonlStore(tmp_path / f"audit-{name}.jsonl")
        audit = PassAudit(store, rec.metrics, rec.settings.identity, f"shard-{name}")
        return Lane(audit, Fence(), covers, platform, name)  # type: ignore[arg-type]

    lanes = {"platform": lane("platform", lambda key: not key, True)}
    for shard in range(SHARDS):
        lanes[str(shard)] = lane(str(shard), lambda key, s=shard: sharding.shard_of(key or None, SHARDS) == s, False)
    return lanes


def _round(rec: Reconciler, lanes: dict[str, Lane]) -> dict[str, PassResult]:
    results = {name: rec.run_pass(lane) for name, lane in lanes.items()}
    for name, result in results.items():
        assert result.error is None and not result.failed, (name, result.error, result.failed)
    return results


def _tenant_of(shard: int, index: int = 0) -> str:
    return [t for i in range(TENANTS) if sharding.shard_of(t := tenantrepo.tenant_name("t", i), SHARDS) == shard][index]


def test_a_converged_shards_next_pass_plans_nothing_and_a_commit_is_planned_by_its_shard_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, root, kube = _reconciler(tmp_path, monkeypatch, TENANTS)
    lanes = _lanes(rec, tmp_path)
    first = _round(rec, lanes)
    assert all(r.selection is not None and r.selection.reason.startswith("full") for r in first.values())
    for shard in range(SHARDS):  # a new shard lane plans every tenant of its shard, not every shard's
        ours = {tenantrepo.tenant_name("t", i) for i in range(TENANTS)} & {_tenant_of(shard, i) for i in range(2)}
        assert ours and ours <= first[str(shard)].selection.tenants  # type: ignore[union-attr,operator]
        assert all(sharding.shard_of(t, SHARDS) == shard for t in first[str(shard)].selection.tenants)  # type: ignore[union-attr]
    assert sum(len(r.outcomes) for r in first.values()) > 5 * TENANTS
    assert all(r.converged for r in first.values())

    platform = set()
    for _ in range(2):
        quiet = _round(rec, lanes)
        for name, result in quiet.items():
            assert result.selection is not None and not result.selection.full, name
            assert result.selection.tenants == frozenset(), (name, result.selection)
            assert not result.outcomes and result.converged, name
        assert quiet["0"].planned == quiet["1"].planned == 0, "a converged shard plans nothing"
        platform.add(quiet["platform"].planned)  # the objects of no tenant (the ClusterRole): always planned
    assert len(platform) == 1 and platform.pop() < TENANTS

    changed = _tenant_of(1)
    tenant = root / "tenants" / changed / "tenant.yaml"
    tenant.write_text(tenant.read_text() + "    - name: new@example.com\n      role: view\n")
    tenantrepo.git(root, "commit", "-qam", f"{changed}: a new member")
    after = _round(rec, lanes)  # the platform lane loads the commit first: shard 1 must still hear of it
    assert after["0"].planned == 0 and after["0"].selection.tenants == frozenset()  # type: ignore[union-attr]
    assert after["1"].selection is not None and after["1"].selection.tenants == {changed}
    assert {o.change.tenant for o in after["1"].outcomes} == {changed}
    assert after["1"].converged
    again = _round(rec, lanes)
    assert again["0"].planned == again["1"].planned == 0, "converged again: nothing planned"
    kube.calls.clear()
    assert all(not r.outcomes for r in _round(rec, lanes).values()) and kube.requests == 0
    rec.close()


def _hand_edit(rec: Reconciler) -> ObjectRef:
    """The first tenant's NetworkPolicy edited by hand, as the watch reports it; its ref."""
    cache = rec.backends["kubernetes"].cache  # type: ignore[attr-defined]
    ref = next(r for r in cache.objects if r.kind == "NetworkPolicy" and r.namespace == _tenant_of(0))
    edited = cache.objects[ref].manifest | {"spec": {"podSelector": {}, "policyTypes": ["Egress"]}}
    cache.event(LiveObject(ref, edited, "999"))
    return ref


def test_a_live_change_is_planned_by_its_shards_lane_even_when_another_lane_reads_the_watch_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, _, _ = _reconciler(tmp_path, monkeypatch, TENANTS)
    lanes = _lanes(rec, tmp_path)
    _round(rec, lanes)
    _round(rec, lanes)
    ref = _hand_edit(rec)
    other = rec.run_pass(lanes["1"])  # takes the watch's changes first: not its tenant, not planned there
    assert other.planned == 0 and not other.outcomes
    healed = rec.run_pass(lanes["0"])
    assert [(o.change.ref, o.change.action) for o in healed.outcomes] == [(ref, Action.update)]
    assert healed.converged and healed.selection is not None and not healed.selection.full
    rec.close()


def test_a_lane_given_up_and_taken_again_plans_all_its_tenants_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, _, _ = _reconciler(tmp_path, monkeypatch, TENANTS)
    lanes = _lanes(rec, tmp_path)
    _round(rec, lanes)
    rec.forget_lane("1")
    again = rec.run_pass(lanes["1"])
    assert again.selection is not None and again.selection.reason.startswith("full") and again.converged
    assert again.selection.tenants == {
        t for i in range(TENANTS) if sharding.shard_of(t := tenantrepo.tenant_name("t", i), SHARDS) == 1
    }
    assert rec.run_pass(lanes["1"]).planned == 0
    rec.close()


def test_a_shard_taken_reads_the_inventory_again_without_a_relist_and_other_lanes_stay_incremental(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, _, kube = _reconciler(tmp_path, monkeypatch, TENANTS)
    lanes = _lanes(rec, tmp_path)
    _round(rec, lanes)
    _round(rec, lanes)
    rec.forget_lane("1")
    rec.forget_records()  # what the sharded loop does when it takes shard 1 again
    kube.calls.clear()
    kept = rec.run_pass(lanes["0"])
    assert kept.selection is not None and kept.selection.tenants == frozenset() and kept.planned == 0
    assert kube.calls and all(method == "GET" for method, _ in kube.calls), "the inventory was read again"
    listed = {path for _, path in kube.calls}
    assert "(watch cache list)" not in listed, f"no relist of live objects: {sorted(listed)}"
    taken = rec.run_pass(lanes["1"])
    assert taken.selection is not None and taken.selection.reason.startswith("full") and taken.converged
    rec.close()


def test_a_shard_lane_writes_a_new_tenant_as_the_deployer_its_allowed_creation_gives_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whose deployer writes a tenant's workloads follows the trusted base and the plan's allowed Tenant changes,
    which only the platform lane keeps once a shard's plan is narrowed: the backend is told before narrowing, so the
    shard lane knows the admin's new tenant (else its workloads had no deployer)."""
    rec, root, _ = _reconciler(tmp_path, monkeypatch, TENANTS)
    lanes = _lanes(rec, tmp_path)
    _round(rec, lanes)
    new = tenantrepo.tenant_name("t", TENANTS)
    folder = root / "tenants" / new
    folder.mkdir()
    (folder / "tenant.yaml").write_text(tenantrepo.TENANT.format(name=new, i=TENANTS), encoding="utf-8")
    tenantrepo.git(root, "add", "-A")
    tenantrepo.git(root, "commit", "-qm", f"{new}: a new tenant, by the platform admin")
    shard = str(sharding.shard_of(new, SHARDS))
    result = rec.run_pass(lanes[shard])  # before the platform lane records the commit as the next trusted base
    assert new in {o.change.tenant for o in result.outcomes} and not result.failed
    kube = rec.backends["kubernetes"]
    assert kube.impersonation.namespaces[new] == new, "the shard lane was told of the allowed creation"
    workload = Change(
        ObjectRef("kubernetes", "argoproj.io/v1alpha1", "WorkflowTemplate", new, "p"),
        Action.create,
        "",
        SpecKey("Pipeline", new, "p"),
        new,
        None,
        50,
        decision=Decision(True, "admin", "", (tenantrepo.ADMIN,)),
    )
    assert kube.impersonation.identity_for(workload) == f"system:serviceaccount:{NAMESPACE}:mlcp-deployer-{new}"
    rec.close()
