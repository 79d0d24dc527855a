"""Bob, a member of vision in no group, grants himself platform-admin and uses it in the same commit.

Before the trusted base, the revision under review judged itself: Bob's commit
put him in `platform-team`, and the policy it carried then allowed his quota
raise as a platform admin's. Now the policy in force is the last applied
revision's: his change to `policies/access.yaml` is itself a change, which that
policy does not let him make, and his quota raise is judged as his, by the old
rules. Neither is applied, both denials are audited, and the rules do not move:
the next plan (and the loop) judge by the same base again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack
from tests.integration.attacks.gitattack import GPU

pytestmark = pytest.mark.integration


def test_a_member_who_adds_himself_to_the_platform_team_gains_nothing(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision = op.repo, op.repo.repo.vision
    base = op.applied_revision(k8s_admin)
    assert base == repo.head()

    repo.edit(
        "policies/access.yaml", "      - admin@example.com\n", "      - admin@example.com\n      - bob@example.com\n"
    )
    repo.edit(f"tenants/{vision}/quota.yaml", f'{GPU}: "4"', f'{GPU}: "64"')
    repo.commit("platform: bob helps out", "bob")

    planned = op.plan()
    shown = gitattack.said(planned)
    assert planned.exit_code == 0, planned.output
    assert "AccessPolicy/platform" in shown, "the change to the rules is shown like any other change"
    assert "denied (default-deny): no rule lets bob@example.com update AccessPolicy" in shown
    assert "no rule lets bob@example.com update Quota" in shown, "the quota raise is judged by the old rules"

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    assert "a change to the rules was not allowed" in gitattack.said(result), result.output
    assert gitattack.gpu_quota(k8s_admin, vision) == "4"
    denied = {r["target"]["kind"]: r for r in op.records(audit, "--decision", "deny")}
    assert denied["AccessPolicy"]["rule"] == "default-deny" and denied["AccessPolicy"]["actors"] == ["bob@example.com"]
    assert denied["AccessPolicy"]["target"]["system"] == "governance"
    assert denied["ResourceQuota"]["rule"] == "default-deny"
    assert op.verified(audit)
    assert op.applied_revision(k8s_admin) == base, "a denied change to the rules never becomes the next judge"

    again = tmp_path / "again.jsonl"
    op.apply(again)
    assert {r["target"]["kind"] for r in op.records(again, "--decision", "deny")} >= {"AccessPolicy", "ResourceQuota"}
    code, log = op.reconcile_once(tmp_path / "loop.jsonl")
    assert code == 1, log[-2000:]
    assert gitattack.gpu_quota(k8s_admin, vision) == "4", "the loop judges by the same base"
    loop_denied = {r["target"]["kind"] for r in op.records(tmp_path / "loop.jsonl", "--decision", "deny")}
    assert {"AccessPolicy", "ResourceQuota"} <= loop_denied


def test_the_admins_own_policy_change_becomes_the_next_judge(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    """The control case: the same grant made by a platform admin is applied, and then it counts."""
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision = op.repo, op.repo.repo.vision
    repo.edit(
        "policies/access.yaml", "      - admin@example.com\n", "      - admin@example.com\n      - bob@example.com\n"
    )
    granted = repo.commit("platform: bob joins the platform team", "admin")
    result = op.apply(tmp_path / "grant.jsonl")
    assert result.exit_code == 0, result.output
    assert op.applied_revision(k8s_admin) == granted

    repo.edit(f"tenants/{vision}/quota.yaml", f'{GPU}: "4"', f'{GPU}: "8"')
    repo.commit("vision: two more GPU nodes' worth", "bob")
    result = op.apply(tmp_path / "raise.jsonl")
    assert result.exit_code == 0, result.output
    assert gitattack.gpu_quota(k8s_admin, vision) == "8", "bob is a platform admin now that the grant was applied"


def test_after_the_admin_reverts_the_grant_the_teams_next_change_is_judged_on_its_own(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    """Recovery: the revert is applied (nothing to write), becomes the next judge, and Bob's reverted commit no
    longer counts against the file he touched — the admin's later quota raise is the admin's alone."""
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision = op.repo, op.repo.repo.vision
    repo.edit(
        "policies/access.yaml", "      - admin@example.com\n", "      - admin@example.com\n      - bob@example.com\n"
    )
    repo.edit(f"tenants/{vision}/quota.yaml", f'{GPU}: "4"', f'{GPU}: "64"')
    repo.commit("platform: bob helps out", "bob")
    base = op.applied_revision(k8s_admin)
    assert "a change to the rules was not allowed" in gitattack.said(op.apply(tmp_path / "denied.jsonl"))
    assert op.applied_revision(k8s_admin) == base

    repo.git("revert", "--no-edit", "HEAD")
    reverted = repo.head()
    result = op.apply(tmp_path / "revert.jsonl")
    assert result.exit_code == 0, result.output
    assert op.applied_revision(k8s_admin) == reverted, "the clean revision becomes the next trusted base"

    repo.edit(f"tenants/{vision}/quota.yaml", f'{GPU}: "4"', f'{GPU}: "8"')
    repo.commit("vision: 8 GPUs", "admin")
    result = op.apply(tmp_path / "raise.jsonl")
    assert result.exit_code == 0, result.output
    assert gitattack.gpu_quota(k8s_admin, vision) == "8"
