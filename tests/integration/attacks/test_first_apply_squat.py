"""A newcomer blocks an existing tenant's first apply by naming its namespace.

Before the first apply nothing in mlcp's inventory says whose a namespace is. A tenant folder committed after
the reviewed commit the operator trusts, naming a namespace a tenant of that commit declares, made the claim
contested, and both claimants were refused (`namespace-ownership`): Carol, who may create nothing in vision,
kept vision from ever being applied with one file. Now the trusted base decides: the tenant that declares the
namespace there keeps it, and the newcomer is refused, naming it (reconciler/backends/kubernetes_namespaces.py).
Through the real `mlcp apply` and the loop's real pass, against the real API server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack

pytestmark = pytest.mark.integration


def _squat(op: gitattack.Operator, prefix: str) -> str:
    """Carol commits a tenant of her own, in vision's namespace, after the commit the operator trusts."""
    squatter, vision = f"{prefix}-squat"[:63], op.repo.repo.vision
    op.repo.write(
        f"tenants/{squatter}/tenant.yaml",
        "apiVersion: mlcp.dev/v1alpha1\nkind: Tenant\nmetadata:\n"
        f"  name: {squatter}\nspec:\n  owners: [carol@example.com]\n  namespace: {vision}\n",
    )
    op.repo.commit("a team of my own", "carol")
    return squatter


def _labels(k8s_admin: client.ApiClient, namespace: str) -> dict[str, str]:
    try:
        found = client.CoreV1Api(k8s_admin).read_namespace(namespace)
    except client.ApiException as exc:
        assert exc.status == 404, exc
        return {}
    return dict((found.metadata.labels if found.metadata else None) or {})


def _bound(k8s_admin: client.ApiClient, namespace: str) -> set[str]:
    bindings = client.RbacAuthorizationV1Api(k8s_admin).list_namespaced_role_binding(namespace).items
    return {s.name for b in bindings for s in (b.subjects or [])}


def test_a_newcomer_naming_its_namespace_does_not_block_a_tenants_first_apply(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.Operator(gitattack.signed_repo(tmp_path, prefix), kubeconfig, mlflow_uri, tmp_path)
    reviewed, vision = op.repo.head(), op.repo.repo.vision
    squatter = _squat(op, prefix)

    op.trusted_base = reviewed  # the first apply: the operator vouches for the reviewed commit, not Carol's
    audit = tmp_path / "first.jsonl"
    result = op.apply(audit)
    shown = gitattack.said(result)
    assert f"tenant {squatter!r} may not use namespace {vision!r}" in shown, shown
    assert f"tenant(s) {vision!r} declare it in the trusted base {reviewed[:12]}" in shown, shown
    assert f"tenant {vision!r} may not use" not in shown, "vision is not blamed"
    assert _labels(k8s_admin, vision).get("mlcp.dev/tenant") == vision, "vision's first apply went ahead"
    assert "alice@example.com" in _bound(k8s_admin, vision)
    assert "carol@example.com" not in _bound(k8s_admin, vision), "the newcomer is bound nowhere there"
    denied = op.records(audit, "--decision", "deny")
    assert {r["tenant"] for r in denied} == {squatter}, "only the newcomer's changes are refused, and audited"
    assert op.verified(audit)


def test_the_loop_applies_the_tenant_and_refuses_the_newcomer(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.Operator(gitattack.signed_repo(tmp_path, prefix), kubeconfig, mlflow_uri, tmp_path)
    reviewed, vision = op.repo.head(), op.repo.repo.vision
    squatter = _squat(op, prefix)

    op.trusted_base = reviewed
    audit = tmp_path / "loop.jsonl"
    code, log = op.reconcile_once(audit)
    assert code == 1, log[-3000:]  # the newcomer did not converge
    assert _labels(k8s_admin, vision).get("mlcp.dev/tenant") == vision, log[-3000:]
    assert "carol@example.com" not in _bound(k8s_admin, vision)
    refused = op.records(audit, "--decision", "deny")
    assert {r["tenant"] for r in refused} == {squatter}, "the loop blames the newcomer alone"
