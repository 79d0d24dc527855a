"""A sharded replica's watch cache holds only the objects of the shards it holds, routed by mlcp's records.

One replica's Reconciler, its real watch cache (reconciler.backends.kubernetes_watch) over the in-memory client's
lists and watches (tests/reconciler/memkube.py), after an unsharded pass wrote every tenant's objects. Counted,
never timed: which objects the cache holds, which a pass writes, what the client listed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from controlplane.audit import JsonlStore
from controlplane.labels import TENANT_LABEL
from controlplane.plans import Action, LiveObject, ObjectRef, Plan
from devenv import tenantrepo
from reconciler import partition, sharding
from reconciler.backends.kubernetes import KubernetesBackend, resources
from reconciler.lane import Lane
from reconciler.passes import Reconciler
from reconciler.verdicts import PassResult
from tests.reconciler.memkube import MemoryKube
from tests.reconciler.test_pass_cost import _reconciler
from tests.reconciler.test_shard_lanes import SHARDS, TENANTS, _lanes

TEAMS = [tenantrepo.tenant_name("t", i) for i in range(TENANTS)]


def _of(shard: int) -> set[str]:
    return {t for t in TEAMS if sharding.shard_of(t, SHARDS) == shard}


def _holding(shards: set[int]) -> object:
    return lambda tenant: sharding.shard_of(tenant, SHARDS) in shards


def _namespace(ref: ObjectRef) -> str | None:
    return ref.namespace or (ref.name if ref.kind == "Namespace" else None)


def _scoped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Reconciler, MemoryKube, dict[str, Lane]]:
    """Every tenant converged by an unsharded pass; then a replica with the real (scoped) watch cache."""
    real_watch = KubernetesBackend.watch
    first, _, kube = _reconciler(tmp_path, monkeypatch, TENANTS)
    assert first.run_pass().converged
    first.close()
    monkeypatch.setattr(KubernetesBackend, "watch", real_watch)
    rec = Reconciler(first.source, first.settings, JsonlStore(tmp_path / "replica.jsonl"))
    return rec, kube, _lanes(rec, tmp_path)


def _cached(rec: Reconciler) -> dict[ObjectRef, LiveObject]:
    backend = rec.backends["kubernetes"]
    assert isinstance(backend, KubernetesBackend) and backend.cache is not None
    held = backend.cache.snapshot()
    assert held is not None
    return held[0]


def _run(rec: Reconciler, lane: Lane) -> PassResult:
    result = rec.run_pass(lane)
    assert result.error is None and not result.failed, (result.error, result.failed)
    return result


def _namespaces(objects: dict[ObjectRef, LiveObject]) -> set[str]:
    return {ns for ref in objects if (ns := _namespace(ref)) is not None}


def test_a_replica_caches_only_its_shards_tenants_and_takes_a_moved_shards_objects_before_planning_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, kube, lanes = _scoped(tmp_path, monkeypatch)
    everything = kube.live()
    rec.holds = _holding({0})  # type: ignore[assignment]
    planned: list[Plan] = []
    narrow = partition.narrow
    monkeypatch.setattr(partition, "narrow", lambda plan, *rest: narrow(planned.append(plan) or plan, *rest))
    platform = _run(rec, lanes["platform"])
    assert platform.converged and not platform.outcomes
    theirs = [c.ref for c in planned[0].changes if c.ref.system == "kubernetes" and c.tenant in _of(1)]
    assert not theirs, "shard 1's tenants' objects are not planned here at all (they would all look absent)"
    zero = _run(rec, lanes["0"])
    assert zero.converged and not zero.outcomes, "converged by the unsharded pass: nothing to write"
    cached = _cached(rec)
    shared = _namespaces(everything) - set(TEAMS)  # no tenant's (the controller's): every replica keeps them
    assert _namespaces(cached) == _of(0) | shared, "only shard 0's tenants' namespaces (and their Namespaces)"
    expected = {ref for ref in everything if _namespace(ref) in _of(0) | shared or _namespace(ref) is None}
    assert set(cached) == expected and len(cached) < len(everything)
    assert all(path.startswith("/api") for path, _ in kube.streamed), "the cache listed and watched by itself"

    rec.holds = _holding({0, 1})  # type: ignore[assignment]
    rec.forget_records()  # what the sharded loop does when it takes a shard
    kube.calls.clear()
    kube.streamed.clear()
    taken = _run(rec, lanes["1"])
    kinds = {r.collection() for r in resources()}
    assert {path for path, watching in kube.streamed if not watching} == kinds, "the cache listed every kind again"
    assert not {path for _, path in kube.calls} & kinds, "and the pass waited for it instead of listing itself"
    assert taken.selection is not None and taken.selection.reason.startswith("full")
    assert taken.converged and not taken.outcomes, "planned against its objects, listed first: nothing re-created"
    assert set(_cached(rec)) == set(everything)
    kept = _run(rec, lanes["0"])
    assert kept.selection is not None and not kept.selection.full and kept.planned == 0, "shard 0 stays incremental"

    rec.holds = _holding({1})  # type: ignore[assignment]
    rec.forget_lane("0")
    _run(rec, lanes["1"])
    assert _namespaces(_cached(rec)) == _of(1) | shared, "a shard given away: its objects are let go"
    assert kube.live() == everything or all(
        kube.live()[ref].version == obj.version for ref, obj in everything.items()
    ), "no object was written or deleted by the moves"
    rec.close()


def _edit(kube: MemoryKube, namespace: str, labels: dict[str, str], annotations: dict[str, str]) -> ObjectRef:
    """A tenant edits the labels and annotations of a ResourceQuota-like object mlcp manages in its namespace."""
    path = next(p for p, o in kube.objects.items() if (o.get("metadata") or {}).get("namespace") == namespace)
    item = dict(kube.objects[path])
    meta = dict(item["metadata"])
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    item["metadata"] = meta
    kube.request("PUT", path, body=item)
    return ObjectRef("kubernetes", item["apiVersion"], item["kind"], namespace, meta["name"])


def _eventually(check: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return bool(check())  # type: ignore[operator]


def test_a_tenant_relabelling_its_objects_as_another_shards_moves_nothing_into_or_out_of_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, kube, lanes = _scoped(tmp_path, monkeypatch)
    rec.holds = _holding({0})  # type: ignore[assignment]
    _run(rec, lanes["0"])
    victim, attacker = sorted(_of(0))[0], sorted(_of(1))[0]
    claims = {TENANT_LABEL: victim, "mlcp.dev/spec": f"Tenant/{victim}"}
    forged = _edit(kube, attacker, claims, {"mlcp.dev/source": f"tenants/{victim}/tenant.yaml"})
    own = _edit(kube, victim, {TENANT_LABEL: attacker}, {})
    assert _eventually(lambda: _cached(rec)[own].manifest["metadata"]["labels"][TENANT_LABEL] == attacker)
    assert forged not in _cached(rec), "shard 1's object claiming shard 0's tenant is not cached by shard 0's holder"
    assert _namespaces(_cached(rec)) & set(TEAMS) == _of(0)
    result = _run(rec, lanes["0"])
    assert {o.change.ref for o in result.outcomes} <= {own}, "only the victim's own drifted object is looked at"
    assert all(o.change.action is not Action.create for o in result.outcomes)
    rec.close()


def test_a_tenant_naming_another_shards_tenants_namespace_is_refused_and_nothing_is_written_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attacker's tenant (shard 0) names the victim's namespace (shard 1). The replica holding shard 0 does not
    cache the victim's objects, so the namespace looks absent to its pass: only mlcp's record (the inventory, read
    whole) and the API server (a GET, never the cache) may say whose it is. The claim must be refused under
    `namespace-ownership`, naming the victim, and no request may write anything in the victim's namespace."""
    rec, kube, lanes = _scoped(tmp_path, monkeypatch)
    rec.holds = _holding({0})  # type: ignore[assignment]
    _run(rec, lanes["platform"])
    _run(rec, lanes["0"])
    attacker, victim = sorted(_of(0))[0], sorted(_of(1))[0]
    assert victim not in _namespaces(_cached(rec)), "the victim's objects are not in this replica's cache"
    before = {ref: obj.version for ref, obj in kube.live().items() if _namespace(ref) == victim}
    assert before, "the victim's namespace and objects exist"
    root = Path(rec.source.url)
    tenant = root / "tenants" / attacker / "tenant.yaml"
    tenant.write_text(tenant.read_text().replace("spec:\n", f"spec:\n  namespace: {victim}\n"))
    tenantrepo.git(root, "commit", "-qam", f"{attacker}: use {victim}'s namespace")
    kube.calls.clear()

    result = rec.run_pass(lanes["0"])

    claimed = [o for o in result.outcomes if o.change.tenant == attacker and _namespace(o.change.ref) == victim]
    assert claimed, "the attacker's changes in the victim's namespace were planned and reported"
    for outcome in claimed:
        decision = outcome.change.decision
        assert outcome.change.blocked and decision is not None and decision.rule == "namespace-ownership", outcome
        assert f"tenant {victim!r}" in decision.reason, "refused as the victim's, by mlcp's record"
    writes = [(m, p) for m, p in kube.calls if m != "GET" and f"/namespaces/{victim}" in p]
    assert not writes, f"nothing is written in the victim's namespace: {writes}"
    assert {ref: obj.version for ref, obj in kube.live().items() if _namespace(ref) == victim} == before

    rec.holds = _holding({0, 1})  # type: ignore[assignment]
    rec.forget_records()
    owner = _run(rec, lanes["1"])
    assert owner.converged and not [o for o in owner.outcomes if o.change.action is Action.create], (
        "the victim's shard, taken, finds its objects as they were"
    )
    rec.close()
