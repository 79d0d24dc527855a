"""What the per-kind integration tests share: one prune-enabled plan and apply through the engine, and reading a
custom object back as the admin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controlplane.plans import Plan
from reconciler import connecting, engine, nextbase
from reconciler.applying import ApplyReport, apply_plan, unchecked
from reconciler.backends.base import ApplyOptions
from reconciler.backends.kubernetes import KubernetesBackend
from tests.integration import configrepo


def apply(
    repo: configrepo.ConfigRepo, kubeconfig: Path, trusted: bool = False, must_succeed: bool = True
) -> tuple[Plan, ApplyReport, KubernetesBackend]:
    """Plan `repo` (with prune) and apply it as mlcp apply would, recording the next trusted base."""
    desired = engine.load_desired(repo.root)
    targets = repo.targets(kubeconfig, trusted=trusted)
    backends = connecting.connect(desired.repo, targets)
    plan, _ = engine.make_plan(desired, backends, prune=True, targets=targets)
    revision = nextbase.next_base(plan, plan.meta["trustedBase"]["revision"])
    report = apply_plan(plan, backends, ApplyOptions(revision=revision), authorize=unchecked)
    if must_succeed:
        assert not report.failed, [(str(o.change.ref), o.message) for o in report.failed]
    kube = backends["kubernetes"]
    assert isinstance(kube, KubernetesBackend)
    return plan, report, kube


def custom_object(
    k8s_admin: client.ApiClient, group: str, version: str, namespace: str, plural: str, name: str
) -> dict[str, Any] | None:
    """The live object, or None when it does not exist."""
    try:
        found = client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(group, version, namespace, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict(found)
