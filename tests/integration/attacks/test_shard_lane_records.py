"""A sharded replica's lanes must never turn a denied change into a record that later judges in its favour.

With `--shards`, the platform lane judges every tenant's people (governance objects) and records the next
trusted base; each shard's lane writes its own tenants and records their per-tenant revisions. Two records an
attacker wants moved past her denied commit:

- the trusted base. Carol (owner of nlp, nothing in vision) adds herself as vision's owner; the platform lane
  denies it. Its next pass, at the same revision, planned only tenants that changed or did not converge *in its
  own share* (none: it covers no tenant), so the plan held no blocked change to the rules and the denied revision
  was recorded as applied: the base then said Carol owns vision, and her image for vision's pipeline was
  written. The same for a stranger's new tenant folder and a member's deletion of a tenant. Now the base moves
  only when every tenant whose people differ from it, in the whole revision, had its change planned and allowed.
- a tenant's revision. The platform lane recorded every tenant it planned a governance object for as converged,
  so a tenant whose shard lane had just DENIED Carol's pipeline edit was recorded at her commit: vision's next
  range started after it, and when its owner later touched the same file, Carol's image went out as Alice's
  change. Now a lane records only the tenants it covers (the platform lane only objects of no tenant).

Driven as `ShardedLoop._round` drives the lanes, against the real API server and MLflow, with signed commits.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client

from tests.integration import configrepo
from tests.integration.attacks import gitattack, lanes
from tests.integration.attacks.gitattack import OLD_IMAGE, PIPELINE, Operator
from tests.integration.attacks.test_namespace_hijack import bound_users

pytestmark = pytest.mark.integration

SHARDS = 2
CAROL_IMAGE = "ghcr.io/evil/miner:1"
CAROL = "carol@example.com"


def _carol_owns_vision(op: Operator) -> str:
    vision = op.repo.repo.vision
    owners = "    - alice@example.com\n"
    op.repo.edit(f"tenants/{vision}/tenant.yaml", owners, f"{owners}    - {CAROL}\n")
    return op.repo.commit("vision: carol co-owns it", "carol")


def _carol_makes_a_tenant(op: Operator) -> str:
    name = f"{op.repo.repo.prefix}-mine"[:63]
    op.repo.write(f"tenants/{name}/tenant.yaml", configrepo.TENANT.format(name=name).replace("alice@", "carol@"))
    return op.repo.commit("a tenant of my own", "carol")


def _bob_deletes_nlp(op: Operator) -> str:
    shutil.rmtree(op.repo.root / "tenants" / op.repo.repo.nlp)
    return op.repo.commit("nlp: gone", "bob")


@pytest.mark.parametrize("attack", [_carol_owns_vision, _carol_makes_a_tenant, _bob_deletes_nlp])
def test_a_denied_change_of_tenants_people_never_becomes_the_trusted_base(
    attack: Callable[[Operator], str],
    tmp_path: Path,
    prefix: str,
    kubeconfig: Path,
    mlflow_uri: str,
    k8s_admin: client.ApiClient,
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    base = op.applied_revision(k8s_admin)
    assert base == op.repo.repo.initial
    replica = lanes.replica(op, tmp_path, SHARDS)
    try:
        assert all(r.error is None for r in replica.round().values())
        denied = attack(op)
        replica.rounds(3)  # the denial, then passes at the same revision: nothing new to plan
        assert op.applied_revision(k8s_admin) == base, f"the denied revision {denied[:10]} became the trusted base"
        kinds = {r["target"]["kind"] for r in op.records(replica.audits["platform"], "--decision", "deny")}
        assert "TenantMembership" in kinds, "the platform lane recorded the denial"

        vision = op.repo.repo.vision
        op.repo.edit(f"tenants/{vision}/{PIPELINE}", OLD_IMAGE, CAROL_IMAGE)
        op.repo.commit("vision: my image", "carol")
        replica.rounds(2)
        assert gitattack.step_images(k8s_admin, vision, "train-detector")[0] == OLD_IMAGE
        assert CAROL not in bound_users(k8s_admin, vision)
        assert op.applied_revision(k8s_admin) == base

        op.repo.git("revert", "--no-edit", "-S", "HEAD~1", who="admin")  # the attack reverted, by an admin
        op.repo.git("revert", "--no-edit", "-S", "HEAD~1", who="admin")  # and then carol's image
        reverted = op.repo.head()
        replica.rounds(2)
        assert op.applied_revision(k8s_admin) == reverted, "with the denied change gone, the base moves on"
    finally:
        replica.close()


def test_the_platform_lane_never_records_a_tenant_converged_past_its_shards_denial(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision = op.repo.repo.vision
    replica = lanes.replica(op, tmp_path, SHARDS)
    try:
        assert all(r.error is None for r in replica.round().values())
        pipeline = f"tenants/{vision}/{PIPELINE}"
        op.repo.edit(pipeline, OLD_IMAGE, CAROL_IMAGE)
        denied = op.repo.commit("vision: a better image", "carol")
        results = replica.round()
        assert any("denied" in r.failed.get(vision, "") for r in results.values()), {
            n: r.failed for n, r in results.items()
        }
        assert replica.revisions(op).get(vision) != denied, "vision's revision did not move past the denied commit"

        path = op.repo.root / pipeline  # its owner touches the same file, harmlessly
        path.write_text(path.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
        op.repo.commit("vision: a comment", "alice")
        replica.rounds(2)
        assert gitattack.step_images(k8s_admin, vision, "train-detector")[0] == OLD_IMAGE, "carol's image went out"
        assert replica.revisions(op).get(vision) == op.repo.repo.initial, "vision lags until the denial is gone"
        shard = next(n for n, r in results.items() if vision in r.failed)
        denials = op.records(replica.audits[shard], "--decision", "deny")
        assert any(r["target"]["kind"] == "WorkflowTemplate" and r["actors"] == [CAROL] for r in denials)
    finally:
        replica.close()
