"""The template's TrainingJob against the real API server with Kubeflow Trainer's TrainJob CRD.

Applied as vision's confined deployer (whose ClusterRole grants trainjobs only
because the kind declares them); a hand edit of the node count is drift and is
taken back; removing the spec prunes the TrainJob.
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


def _job(k8s_admin: client.ApiClient, namespace: str) -> dict[str, Any] | None:
    return kind_support.custom_object(
        k8s_admin, "trainer.kubeflow.org", "v1alpha1", namespace, "trainjobs", "finetune-detector"
    )


def test_training_job_applies_as_the_deployer_shows_drift_and_is_pruned(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    repo = configrepo.make(tmp_path, prefix)
    plan, _, kube = kind_support.apply(repo, kubeconfig, trusted=True)
    ns = repo.vision
    [change] = [c for c in plan.changes if c.spec and c.spec.kind == "TrainingJob"]
    assert (change.ref.kind, change.action) == ("TrainJob", Action.create)
    assert kube.impersonation is not None
    assert kube.impersonation.identity_for(change) == f"system:serviceaccount:{repo.system_ns}:mlcp-deployer-{ns}"
    live = _job(k8s_admin, ns)
    assert live is not None
    assert live["spec"]["trainer"]["numNodes"] == 2
    assert {"name": "MLFLOW_EXPERIMENT_NAME", "value": repo.experiment} in live["spec"]["trainer"]["env"]

    client.CustomObjectsApi(k8s_admin).patch_namespaced_custom_object(
        "trainer.kubeflow.org",
        "v1alpha1",
        ns,
        "trainjobs",
        "finetune-detector",
        {"spec": {"trainer": {"numNodes": 8}}},
        field_manager="kubectl-edit",
    )
    desired = engine.load_desired(repo.root)
    targets = repo.targets(kubeconfig)
    backends = connecting.connect(desired.repo, targets)
    drift, _ = engine.make_plan(desired, backends, targets=targets)
    [change] = drift.pending
    assert [(d.dotted, d.old, d.new) for d in change.diffs] == [("spec.trainer.numNodes", 8, 2)]
    kind_support.apply(repo, kubeconfig)
    healed = _job(k8s_admin, ns)
    assert healed is not None and healed["spec"]["trainer"]["numNodes"] == 2

    repo.path(f"tenants/{ns}/training/finetune-detector.yaml").unlink()
    repo.commit("remove the training job")
    plan, _, _ = kind_support.apply(repo, kubeconfig)
    assert [(c.ref.kind, c.action) for c in plan.pending] == [("TrainJob", Action.delete)]
    assert _job(k8s_admin, ns) is None
