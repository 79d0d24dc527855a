"""Carol, owner of nlp, makes herself an owner of vision and edits vision's pipeline in the same commit.

Before the trusted base, `@own` was computed from the revision under review,
so her commit made her vision's owner and then allowed her pipeline edit as an
owner's. Now tenant people are read from the trusted base: she is not in
vision there, her change to vision's people is a `TenantMembership` change that
the base's policy does not grant her, and no RoleBinding for her is written.

The class goes further than one policy: even a policy that lets tenant owners
change every kind in their own tenants (`kinds: ["*"]`, `tenants: ["@own"]`)
does not let an owner add people, because the rules themselves are granted
only by name or over all tenants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack, owners
from tests.integration.attacks.gitattack import OLD_IMAGE, PIPELINE

pytestmark = pytest.mark.integration

EVIL_IMAGE = "ghcr.io/evil/miner:1"


def _subjects(k8s_admin: client.ApiClient, namespace: str) -> set[str]:
    """Every user or group some RoleBinding in `namespace` names."""
    bindings = client.RbacAuthorizationV1Api(k8s_admin).list_namespaced_role_binding(namespace)
    return {str(s.name) for b in bindings.items for s in (b.subjects or [])}


def test_an_owner_of_one_tenant_cannot_join_another(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision = op.repo, op.repo.repo.vision
    tenant = f"tenants/{vision}/tenant.yaml"
    repo.edit(tenant, "    - alice@example.com\n", "    - alice@example.com\n    - carol@example.com\n")
    repo.edit(f"tenants/{vision}/{PIPELINE}", OLD_IMAGE, EVIL_IMAGE)
    repo.commit("vision: carol co-owns it now", "carol")

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    shown = gitattack.said(result)
    assert "no rule lets carol@example.com update TenantMembership in tenant" in shown, result.output
    assert "carol@example.com" not in _subjects(k8s_admin, vision), "no RoleBinding names her"
    assert gitattack.step_images(k8s_admin, vision, "train-detector")[0] == OLD_IMAGE

    denied = {r["target"]["kind"]: r for r in op.records(audit, "--decision", "deny")}
    assert denied["TenantMembership"]["tenant"] == vision and denied["TenantMembership"]["rule"] == "default-deny"
    assert "RoleBinding" in denied, "the RoleBindings the Tenant spec renders are denied with it"
    assert denied["WorkflowTemplate"]["actors"] == ["carol@example.com"], "she is not vision's by the base's people"
    assert op.verified(audit)

    code, log = op.reconcile_once(tmp_path / "loop.jsonl")
    assert code == 1, log[-2000:]
    assert "carol@example.com" not in _subjects(k8s_admin, vision)
    assert "TenantMembership" in {
        r["target"]["kind"] for r in op.records(tmp_path / "loop.jsonl", "--decision", "deny")
    }


def test_a_catch_all_owner_role_still_cannot_add_people(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = owners.catch_all_owners(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision = op.repo, op.repo.repo.vision

    repo.edit(
        f"tenants/{vision}/tenant.yaml",
        "    - name: bob@example.com\n",
        "    - name: mallory@example.com\n      role: admin\n    - name: bob@example.com\n",
    )
    repo.edit(f"tenants/{vision}/quota.yaml", 'requests.cpu: "32"', 'requests.cpu: "40"')
    repo.commit("vision: a new admin, a little more CPU", "alice")

    audit = tmp_path / "attack.jsonl"
    op.apply(audit)
    assert "mallory@example.com" not in _subjects(k8s_admin, vision)
    quota = cast(Any, client.CoreV1Api(k8s_admin).read_namespaced_resource_quota("compute", vision))
    assert quota.spec.hard["requests.cpu"] == "40", "the owner role is real: alice's quota change applies"
    [membership] = op.records(audit, "--decision", "deny", "--kind", "TenantMembership")
    assert membership["actors"] == ["alice@example.com"] and membership["rule"] == "default-deny"
    assert "no rule lets alice@example.com update TenantMembership" in membership["reason"]
