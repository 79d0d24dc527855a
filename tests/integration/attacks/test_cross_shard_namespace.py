"""Cross-shard namespace hijack: a tenant of one shard names the namespace of a tenant of another shard.

A sharded replica caches only its shards' tenants' objects, so to the replica holding the attacker's shard the
victim's namespace looks absent: nothing in its watch cache says whose it is. Server-side apply would take the
namespace over and bind the attacker's owner there. Against the real API server, with the real scoped watch
cache: after every tenant converged, one replica holds the attacker's shard only; a commit (by someone allowed
to edit Tenants, or an attacker who got such a commit in) points the attacker's Tenant at the victim's
namespace. The claim must be refused under `namespace-ownership` as the victim's, decided by mlcp's own records
(the inventory, read whole), and no request of that replica may write in the victim's namespace: its labels,
RoleBindings and every object keep their resourceVersion, and the attacker's owner is bound nowhere there.

The same attack on the in-memory client, counting requests, is tests/reconciler/test_shard_cache.py; unsharded
through the CLI, tests/integration/attacks/test_namespace_hijack.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane.audit import JsonlStore
from reconciler import sharding
from reconciler.backends.kubernetes import KubernetesBackend
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.fencing import Fence
from reconciler.gitsync import GitSource
from reconciler.lane import Lane
from reconciler.passaudit import PassAudit
from reconciler.passes import Reconciler, Settings
from tests.integration import configrepo
from tests.integration.attacks.test_namespace_hijack import MALLORY, RULE, bound_users

pytestmark = pytest.mark.integration
SHARDS = 4


def _state(k8s_admin: client.ApiClient, namespace: str) -> dict[str, str]:
    """Every object mlcp manages in `namespace` (and the Namespace), by kind and name → resourceVersion."""
    core, rbac = client.CoreV1Api(k8s_admin), client.RbacAuthorizationV1Api(k8s_admin)
    found = {f"Namespace/{namespace}": core.read_namespace(namespace).metadata.resource_version}
    for kind, items in (
        ("ServiceAccount", core.list_namespaced_service_account(namespace).items),
        ("Role", rbac.list_namespaced_role(namespace).items),
        ("RoleBinding", rbac.list_namespaced_role_binding(namespace).items),
        ("NetworkPolicy", client.NetworkingV1Api(k8s_admin).list_namespaced_network_policy(namespace).items),
    ):
        found.update({f"{kind}/{o.metadata.name}": o.metadata.resource_version for o in items})
    return found


def _lane(rec: Reconciler, tmp_path: Path, name: str, platform: bool, shard: int | None = None) -> Lane:
    audit = PassAudit(JsonlStore(tmp_path / f"{name}.jsonl"), rec.metrics, rec.settings.identity, name)
    if platform:
        return Lane(audit, Fence(), lambda key: not key, True, name)
    return Lane(audit, Fence(), lambda key: sharding.shard_of(key or None, SHARDS) == shard, False, name)


def test_a_tenant_naming_another_shards_tenants_namespace_is_refused_by_the_replica_that_cannot_see_it(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = configrepo.make(tmp_path, prefix)
    tenants = [repo.add_tenant(f"s{i}") for i in range(8)]
    by_shard: dict[int, list[str]] = {}
    for tenant in tenants:
        by_shard.setdefault(sharding.shard_of(tenant, SHARDS), []).append(tenant)
    assert len(by_shard) >= 2, by_shard
    (attacker_shard, (attacker, *_)), (_, (victim, *_)) = sorted(by_shard.items())[:2]
    repo.edit(f"tenants/{attacker}/tenant.yaml", "owners: [alice@example.com]", f"owners: [{MALLORY}]")
    repo.commit("eight minimal tenants")

    everyone = Reconciler(
        GitSource(str(repo.root), "main", tmp_path / "everyone"),
        Settings(repo.targets(kubeconfig)),
        JsonlStore(tmp_path / "everyone.jsonl"),
    )
    first = everyone.run_pass()
    everyone.close()
    assert first.error is None and not ({attacker, victim} & set(first.failed)), (first.error, first.failed)

    replica = Reconciler(
        GitSource(str(repo.root), "main", tmp_path / "replica"),
        Settings(repo.targets(kubeconfig), identity="replica-0", watch=True),
        JsonlStore(tmp_path / "replica.jsonl"),
    )
    replica.holds = lambda tenant: sharding.shard_of(tenant, SHARDS) == attacker_shard
    platform = _lane(replica, tmp_path, "platform", True)
    shard = _lane(replica, tmp_path, "shard", False, attacker_shard)
    try:
        for lane in (platform, shard):
            result = replica.run_pass(lane)
            assert result.error is None and not result.failed, (result.error, result.failed)
        backend = replica.backends["kubernetes"]
        assert isinstance(backend, KubernetesBackend) and backend.cache is not None
        held = backend.cache.snapshot()
        assert held is not None
        cached = {ref.namespace or (ref.name if ref.kind == "Namespace" else None) for ref in held[0]}
        assert attacker in cached and victim not in cached, "the victim's objects are not in this replica's cache"
        before = _state(k8s_admin, victim)
        assert len(before) > 1, "the victim's namespace and objects exist"

        repo.edit(f"tenants/{attacker}/tenant.yaml", "spec:\n", f"spec:\n  namespace: {victim}\n")
        repo.commit(f"{attacker}: use {victim}'s namespace")
        calls: list[tuple[str, str]] = []
        real = KubeClient.request

        def recorded(self: KubeClient, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            calls.append((method, path))
            return real(self, method, path, *args, **kwargs)

        monkeypatch.setattr(KubeClient, "request", recorded)
        result = replica.run_pass(shard)
        monkeypatch.undo()
    finally:
        replica.close()

    assert result.error is None, result.error
    claimed = [
        o
        for o in result.outcomes
        if o.change.tenant == attacker and victim in (o.change.ref.namespace, o.change.ref.name)
    ]
    assert claimed, "the attacker's changes in the victim's namespace were planned and reported"
    for outcome in claimed:
        decision = outcome.change.decision
        assert outcome.change.blocked and decision is not None and decision.rule == RULE, outcome
        assert f"tenant {victim!r}" in decision.reason, "refused as the victim's, by mlcp's record"
    writes = [(m, p) for m, p in calls if m != "GET" and f"/namespaces/{victim}" in p]
    assert not writes, f"nothing is written in the victim's namespace: {writes}"
    assert _state(k8s_admin, victim) == before, "every object there keeps its resourceVersion"
    assert MALLORY not in bound_users(k8s_admin, victim)
