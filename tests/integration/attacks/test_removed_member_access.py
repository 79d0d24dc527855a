"""Bob, vision's only `edit` member, is moved to another team; with prune off (the template's default) he kept
his access.

Removing the last person of a role stops the Tenant from rendering that role's RoleBinding (`mlcp-edit`); the
binding then is an object removed from git, and with `prune.enabled: false` every such delete was skipped
("prune is off"). So the person the Tenant change removed kept `edit` in the namespace for good, and the same
held for a notebook's RoleBinding and for MLflow grants. Revoking access must not depend on prune: a grant mlcp
wrote (its inventory says so) goes when git no longer renders it, authorized as the change of the spec that
rendered it. Bob acts as himself against the real API server after the admin's change is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client

from reconciler.backends.kubernetes_watch import WatchCache
from tests.integration import configrepo
from tests.integration.attacks import gitattack
from tests.integration.reconcile_support import reconciler

pytestmark = pytest.mark.integration

BOB = "bob@example.com"
NOTEBOOK = "notebooks/explore.yaml"


def _can_write(api: client.ApiClient, namespace: str, name: str) -> bool:
    """Whether the person `api` authenticates as may start a run in `namespace` (a Workflow, what members do; a
    server-side dry run, so the try leaves nothing behind)."""
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"workflowTemplateRef": {"name": "train-detector"}},
    }
    try:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "argoproj.io", "v1alpha1", namespace, "workflows", body, dry_run="All"
        )
    except client.ApiException as exc:
        if exc.status == 403:
            return False
        raise
    return True


def _bound(k8s_admin: client.ApiClient, namespace: str) -> dict[str, set[str]]:
    """RoleBinding name → the people it names, in `namespace`."""
    bindings = client.RbacAuthorizationV1Api(k8s_admin).list_namespaced_role_binding(namespace)
    return {str(b.metadata.name): {str(s.name) for s in (b.subjects or [])} for b in bindings.items}


def test_a_removed_member_loses_access_with_prune_off(
    tmp_path: Path,
    prefix: str,
    kubeconfig: Path,
    mlflow_uri: str,
    k8s_admin: client.ApiClient,
    k8s_user: Callable[..., client.ApiClient],
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision = op.repo, op.repo.repo.vision
    assert "enabled: false" in repo.repo.path("mlcp.yaml").read_text(encoding="utf-8"), "prune is off"
    bob = k8s_user(BOB)
    assert _can_write(bob, vision, "before"), "Bob, an edit member, may write in vision"

    repo.edit(f"tenants/{vision}/tenant.yaml", f"    - name: {BOB}\n      role: edit\n", "")
    repo.edit(f"tenants/{vision}/{NOTEBOOK}", f"    - {BOB}\n", "")
    repo.commit("vision: Bob moved to another team", "admin")
    result = op.apply(tmp_path / "apply.jsonl")
    assert result.exit_code == 0, gitattack.explain(result)

    bound = _bound(k8s_admin, vision)
    assert not any(BOB in people for people in bound.values()), f"a RoleBinding still names Bob: {bound}"
    assert "mlcp-edit" not in bound, "the binding of a role nobody holds any more is deleted"
    assert not _can_write(bob, vision, "after"), "Bob still writes in vision after he was removed"
    deleted = op.records(tmp_path / "apply.jsonl", "--result", "deleted")
    assert [r["target"]["name"] for r in deleted if r["target"]["kind"] == "RoleBinding"] == ["mlcp-edit"]
    assert op.verified(tmp_path / "apply.jsonl")


def test_removing_a_tenant_s_notebook_revokes_its_binding_with_prune_off(
    tmp_path: Path,
    prefix: str,
    kubeconfig: Path,
    mlflow_uri: str,
    k8s_admin: client.ApiClient,
) -> None:
    """The notebook goes from git: its RoleBinding (the users who may reach it) goes too; the Notebook itself,
    which grants nobody anything, stays as prune off says."""
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision = op.repo, op.repo.repo.vision
    before = _bound(k8s_admin, vision)
    granting = {name for name, people in before.items() if BOB in people and name != "mlcp-edit"}
    assert granting, f"the notebook's binding names Bob: {before}"
    repo.repo.path(f"tenants/{vision}/{NOTEBOOK}").unlink()
    repo.commit("vision: explore notebook retired", "admin")
    result = op.apply(tmp_path / "apply.jsonl")
    assert result.exit_code == 0, gitattack.explain(result)
    after = _bound(k8s_admin, vision)
    assert not granting & after.keys(), f"the retired notebook's binding still grants: {after}"
    notebooks = client.CustomObjectsApi(k8s_admin).list_namespaced_custom_object(
        "kubeflow.org", "v1", vision, "notebooks"
    )
    assert [n["metadata"]["name"] for n in notebooks["items"]] == ["explore"], "prune off keeps the rest"


def test_the_loop_revokes_a_removed_member_with_prune_off_in_a_pass_that_plans_only_what_changed(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_user: Callable[..., client.ApiClient]
) -> None:
    """The same through `mlcp reconcile`'s passes, warm, with the watch cache: the pass after the commit plans
    the changed tenant alone, and Bob is out."""
    repo = configrepo.make(tmp_path, prefix)
    rec = reconciler(repo, kubeconfig, tmp_path, watch=True, resync=3600.0)
    try:
        assert rec.run_pass().converged
        [cache] = rec.watches
        assert isinstance(cache, WatchCache) and cache.wait_synced(30)
        assert rec.run_pass().converged
        bob = k8s_user(BOB)
        assert _can_write(bob, repo.vision, "before")
        repo.edit(f"tenants/{repo.vision}/tenant.yaml", f"    - name: {BOB}\n      role: edit\n", "")
        repo.edit(f"tenants/{repo.vision}/{NOTEBOOK}", f"    - {BOB}\n", "")
        repo.commit("vision: Bob moved to another team")
        result = rec.run_pass()
        assert result.selection is not None and not result.selection.full, "a pass of what changed"
        assert result.converged, (result.failed, result.error)
        assert not _can_write(bob, repo.vision, "after"), "Bob still writes in vision after he was removed"
    finally:
        rec.close()
