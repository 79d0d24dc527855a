"""A refused change of a tenant's people or namespace, carried out through the objects other specs take from it.

The Notebook's RoleBinding (get on the notebook and its pod, pods/portforward to it) names the tenant's people
as the revision has them, and every workload lives in the tenant's namespace as the revision has it. Those
objects were judged as changes of their own spec, by its file's authors, so a Tenant change the base's policy
refused still reached the cluster through them: the refused member bound to the notebook, the workloads moved
to the refused namespace and, with `--prune`, deleted from the old one. Now they are judged with the Tenant
change (reconciler/tenantbound.py): refused with it, under `tenant-membership` / `tenant-namespace`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack, owners

pytestmark = pytest.mark.integration

NOTEBOOK = """apiVersion: mlcp.dev/v1alpha1
kind: Notebook
metadata:
  name: explore
spec:
  image: kubeflownotebookswg/jupyter-pytorch-cuda:v1.9.0
  resources:
    cpu: "2"
    memory: 8Gi
  workspace:
    size: 20Gi
"""
"""No `users`: "empty means all of them", the tenant's owners and members."""


def _bound(k8s_admin: client.ApiClient, namespace: str) -> dict[str, set[str]]:
    """RoleBinding → the users and groups it names, in `namespace`."""
    bindings = client.RbacAuthorizationV1Api(k8s_admin).list_namespaced_role_binding(namespace)
    return {str(b.metadata.name): {str(s.name) for s in (b.subjects or [])} for b in bindings.items}


def _naming(k8s_admin: client.ApiClient, namespace: str, who: str) -> list[str]:
    return sorted(name for name, people in _bound(k8s_admin, namespace).items() if who in people)


def _held(k8s_admin: client.ApiClient, namespace: str) -> dict[str, str]:
    """What mlcp keeps in `namespace`: `Kind/name` → resourceVersion, of the kinds the tenant's specs render."""
    core, rbac = client.CoreV1Api(k8s_admin), client.RbacAuthorizationV1Api(k8s_admin)
    custom = client.CustomObjectsApi(k8s_admin)
    found = {f"RoleBinding/{b.metadata.name}": b.metadata.resource_version
             for b in rbac.list_namespaced_role_binding(namespace).items}  # fmt: skip
    found |= {f"ResourceQuota/{q.metadata.name}": q.metadata.resource_version
              for q in core.list_namespaced_resource_quota(namespace).items}  # fmt: skip
    found |= {f"PersistentVolumeClaim/{c.metadata.name}": c.metadata.resource_version
              for c in core.list_namespaced_persistent_volume_claim(namespace).items}  # fmt: skip
    for group, version, plural in (
        ("argoproj.io", "v1alpha1", "workflowtemplates"),
        ("kubeflow.org", "v1", "notebooks"),
    ):
        listed = custom.list_namespaced_custom_object(group, version, namespace, plural)["items"]
        found |= {f"{plural}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in listed}
    return found


def test_a_stranger_who_adds_herself_is_not_bound_to_the_tenants_notebook(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    """Carol (owner of nlp, nothing in vision) adds herself to vision; the notebook is for all of its people."""
    vision = f"{prefix}-vision"[:63]
    op = gitattack.operator(
        tmp_path, prefix, kubeconfig, mlflow_uri, extra={f"tenants/{vision}/notebooks/explore.yaml": NOTEBOOK}
    )
    assert "alice@example.com" in _bound(k8s_admin, vision)["mlcp-notebook-explore"], "the notebook is theirs"
    joined = "  members:\n    - name: carol@example.com\n      role: edit\n"  # notebooks bind writers only
    op.repo.edit(f"tenants/{vision}/tenant.yaml", "  members:\n", joined)
    op.repo.commit("vision: carol works along", "carol")

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    shown = gitattack.said(result)
    assert "tenant-membership" in shown and "names the owners and members of tenant" in shown, shown
    assert _naming(k8s_admin, vision, "carol@example.com") == [], "no RoleBinding names her"
    denied = {(r["target"]["kind"], r["target"]["name"]): r for r in op.records(audit, "--decision", "deny")}
    binding = denied[("RoleBinding", "mlcp-notebook-explore")]
    assert binding["rule"] == "tenant-membership" and "carol@example.com" in binding["actors"]
    assert op.verified(audit)

    code, log = op.reconcile_once(tmp_path / "loop.jsonl")
    assert code == 1, log[-2000:]
    assert _naming(k8s_admin, vision, "carol@example.com") == [], "nor does the loop's pass write one"


def test_an_owner_cannot_grant_her_notebook_to_a_member_she_may_not_add(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    """Owners may change every kind of their tenant (`kinds: ["*"]`, `@own`); alice adds mallory to vision and,
    in the same commit, to the notebook's `users` (valid against the revision's people)."""
    op = owners.catch_all_owners(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision = op.repo, op.repo.repo.vision
    repo.edit(
        f"tenants/{vision}/tenant.yaml",
        "    - name: bob@example.com\n",
        "    - name: mallory@example.com\n    - name: bob@example.com\n",
    )
    notebook = f"tenants/{vision}/notebooks/explore.yaml"
    repo.edit(notebook, "    - bob@example.com\n", "    - bob@example.com\n    - mallory@example.com\n")
    repo.commit("vision: mallory joins, and may use the notebook", "alice")

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    assert "TenantMembership" in gitattack.said(result)
    assert _naming(k8s_admin, vision, "mallory@example.com") == [], "mallory is bound nowhere in vision"
    denied = op.records(audit, "--decision", "deny", "--kind", "RoleBinding")
    [binding] = [r for r in denied if r["target"]["name"] == "mlcp-notebook-explore"]
    assert binding["rule"] == "tenant-membership" and binding["actors"] == ["alice@example.com"]


def test_a_member_cannot_move_the_tenants_workloads_by_moving_its_namespace(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    """Bob (edit in vision) moves vision to a namespace of his choosing; the operator applies with `--prune`."""
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision = op.repo.repo.vision
    elsewhere = f"{prefix}-elsewhere"[:63]
    before = _held(k8s_admin, vision)
    assert "workflowtemplates/train-detector" in before and "notebooks/explore" in before
    op.repo.edit(f"tenants/{vision}/tenant.yaml", "  owners:\n", f"  namespace: {elsewhere}\n  owners:\n")
    op.repo.commit("vision: a fresh namespace", "bob")

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit, None, "--prune")
    shown = gitattack.said(result)
    assert "tenant-namespace" in shown and f"to {elsewhere!r}" in shown, shown
    assert _held(k8s_admin, vision) == before, "nothing in vision's namespace is deleted or changed"
    namespaces = {n.metadata.name for n in client.CoreV1Api(k8s_admin).list_namespace().items}
    assert elsewhere not in namespaces, "the namespace itself is the Tenant's change, denied"
    rules = {r["rule"] for r in op.records(audit, "--decision", "deny") if r["target"]["kind"] == "WorkflowTemplate"}
    assert rules == {"tenant-namespace"}


def test_a_refused_namespace_move_is_not_carried_out_by_the_next_apply(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    """Bob's move is refused; the operator applies again with `--prune`. The first apply recorded Bob's commit as
    the next trusted base (the namespace was no governance input), whose namespace for vision is Bob's: the second
    plan saw no move, and deleted vision's quota and limit range while its people kept their access there."""
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision, applied = op.repo.repo.vision, op.applied_revision(k8s_admin)
    elsewhere = f"{prefix}-elsewhere"[:63]
    before = _held(k8s_admin, vision)
    op.repo.edit(f"tenants/{vision}/tenant.yaml", "  owners:\n", f"  namespace: {elsewhere}\n  owners:\n")
    op.repo.commit("vision: a fresh namespace", "bob")

    first = op.apply(tmp_path / "first.jsonl", None, "--prune")
    assert op.applied_revision(k8s_admin) == applied, "the refused move is not the next trusted base"
    assert "TenantNamespace" in gitattack.said(first), "shown as the governance change it is"
    audit = tmp_path / "again.jsonl"
    again = op.apply(audit, None, "--prune")
    assert "tenant-namespace" in gitattack.said(again), gitattack.said(again)
    assert _held(k8s_admin, vision) == before, "nothing in vision's namespace is deleted or changed"
    limits = client.CoreV1Api(k8s_admin).list_namespaced_limit_range(vision).items
    assert limits, "vision's limit range stays"
    assert not [r for r in op.records(audit, "--decision", "allow") if r["action"] == "delete"], "no delete allowed"
