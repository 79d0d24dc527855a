"""The template's Notebook against the real API server with Kubeflow's Notebook CRD, written as vision's deployer.

Applied, its workspace PVC and its users' Role are created by the tenant's
confined deployer (so the deployer's ClusterRole must grant notebooks, PVCs,
Roles and what the Role grants: the API server refuses a Role granting more
than its writer holds); a hand edit of the image is drift and is taken back;
removing the spec prunes all four objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane.plans import Action
from reconciler import connecting, engine
from tests.integration import configrepo, kind_support

pytestmark = pytest.mark.integration


def _notebook(k8s_admin: client.ApiClient, namespace: str) -> dict[str, Any] | None:
    return kind_support.custom_object(k8s_admin, "kubeflow.org", "v1", namespace, "notebooks", "explore")


def test_notebook_applies_as_the_deployer_shows_drift_and_is_pruned(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    repo = configrepo.make(tmp_path, prefix)
    plan, _, kube = kind_support.apply(repo, kubeconfig, trusted=True)
    ns = repo.vision
    created = {(c.ref.kind, c.ref.name) for c in plan.changes if c.spec and c.spec.kind == "Notebook"}
    assert created == {
        ("Notebook", "explore"),
        ("PersistentVolumeClaim", "explore-workspace"),
        ("Role", "mlcp-notebook-explore"),
        ("RoleBinding", "mlcp-notebook-explore"),
    }
    deployer = f"system:serviceaccount:{repo.system_ns}:mlcp-deployer-{ns}"
    assert kube.impersonation is not None
    assert {kube.impersonation.identity_for(c) for c in plan.changes if c.spec and c.spec.kind == "Notebook"} == {
        deployer
    }
    live = _notebook(k8s_admin, ns)
    assert live is not None
    [container] = live["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}
    core = client.CoreV1Api(k8s_admin)
    assert core.read_namespaced_persistent_volume_claim("explore-workspace", ns).spec.resources.requests == {
        "storage": "20Gi"
    }
    review = client.AuthorizationV1Api(k8s_admin).create_subject_access_review(
        {
            "spec": {
                "user": "bob@example.com",
                "resourceAttributes": {
                    "namespace": ns,
                    "verb": "create",
                    "resource": "pods",
                    "subresource": "portforward",
                    "name": "explore-0",
                },
            }
        }
    )
    assert review.status.allowed, "a listed user may port-forward to the notebook's pod"

    edited = {**container, "image": "ghcr.io/evil/miner:1"}
    client.CustomObjectsApi(k8s_admin).patch_namespaced_custom_object(
        "kubeflow.org",
        "v1",
        ns,
        "notebooks",
        "explore",
        {"spec": {"template": {"spec": {"containers": [edited]}}}},
        field_manager="kubectl-edit",
    )
    desired = engine.load_desired(repo.root)
    targets = repo.targets(kubeconfig)
    backends = connecting.connect(desired.repo, targets)
    drift, _ = engine.make_plan(desired, backends, targets=targets)
    [change] = drift.pending
    assert change.ref.kind == "Notebook" and change.action is Action.update
    assert [d.dotted for d in change.diffs] == ["spec.template.spec.containers"]
    kind_support.apply(repo, kubeconfig)
    healed = _notebook(k8s_admin, ns)
    assert healed is not None
    assert healed["spec"]["template"]["spec"]["containers"][0]["image"] == container["image"]

    repo.path(f"tenants/{ns}/notebooks/explore.yaml").unlink()
    repo.commit("remove the notebook")
    plan, _, _ = kind_support.apply(repo, kubeconfig)
    assert {(c.ref.kind, c.action) for c in plan.pending} == {
        ("Notebook", Action.delete),
        ("PersistentVolumeClaim", Action.delete),
        ("Role", Action.delete),
        ("RoleBinding", Action.delete),
    }
    assert _notebook(k8s_admin, ns) is None
