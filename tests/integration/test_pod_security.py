"""Pod Security Standards on tenant namespaces, against the real API server and its PodSecurity admission.

The labels are mlcp's: a hand edit is drift healed by `mlcp apply` and by one reconcile pass, the level is
the trusted base's policy (a change to it takes effect once applied), and the API server really refuses
pods the level forbids — even the cluster admin's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from typer.testing import CliRunner

from controlplane.cli.app import app
from controlplane.labels import POD_SECURITY_PREFIX
from controlplane.plans import Action
from tests.integration import configrepo
from tests.integration.reconcile_support import reconciler

pytestmark = pytest.mark.integration
runner = CliRunner()

ENFORCE = f"{POD_SECURITY_PREFIX}enforce"


@pytest.fixture
def repo(tmp_path: Path, prefix: str) -> configrepo.ConfigRepo:
    return configrepo.make(tmp_path, prefix)


def _mlcp(repo: configrepo.ConfigRepo, kubeconfig: Path, command: str, *args: str, trusted: bool = False) -> Any:
    argv = [command, str(repo.root), "--kubeconfig", str(kubeconfig), *repo.operator_args(trusted), *args]
    return runner.invoke(app, argv)


def _apply(repo: configrepo.ConfigRepo, kubeconfig: Path, trusted: bool = False) -> None:
    result = _mlcp(repo, kubeconfig, "apply", "--yes", trusted=trusted)
    assert result.exit_code == 0, result.output


def _pod_security(k8s_admin: client.ApiClient, namespace: str) -> dict[str, str]:
    labels = client.CoreV1Api(k8s_admin).read_namespace(namespace).metadata.labels or {}
    return {k: v for k, v in labels.items() if k.startswith(POD_SECURITY_PREFIX)}


def _pod(name: str, security: dict[str, Any] | None = None) -> dict[str, Any]:
    container = {"name": "c", "image": "busybox", "securityContext": security or {}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}


def _refusal(k8s_admin: client.ApiClient, namespace: str, pod: dict[str, Any]) -> str | None:
    """The API server's refusal of creating `pod` as the cluster admin, or None when it admitted it."""
    try:
        client.CoreV1Api(k8s_admin).create_namespaced_pod(namespace, pod)
    except client.ApiException as exc:
        assert exc.status == 403, exc.body
        return str(json.loads(exc.body)["message"])
    return None


def _settled(api: client.ApiClient, namespace: str, name: str, admitted: bool) -> str | None:
    """The refusal of a privileged pod once Pod Security admission sees the namespace's labels as they now are: it
    reads them from an informer's cache, which a pod created right after a label change can outrun."""
    deadline = time.monotonic() + 15
    while True:
        refused = _refusal(api, namespace, _pod(name, {"privileged": True}))
        if (refused is None) == admitted or time.monotonic() > deadline:
            return refused
        if refused is None:
            client.CoreV1Api(api).delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        time.sleep(0.2)


BASELINE = {
    f"{POD_SECURITY_PREFIX}{m}{v}": ("latest" if v else "baseline")
    for m in ("enforce", "warn", "audit")
    for v in ("", "-version")
}


def test_baseline_is_enforced_by_the_api_server_and_a_hand_edit_is_healed_by_apply(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    _apply(repo, kubeconfig, trusted=True)
    assert _pod_security(k8s_admin, repo.vision) == BASELINE
    refused = _refusal(k8s_admin, repo.vision, _pod("root-of-the-node", {"privileged": True}))
    assert refused is not None and 'violates PodSecurity "baseline:latest"' in refused
    assert _refusal(k8s_admin, repo.vision, _pod("ordinary")) is None, "baseline admits an ordinary pod"

    core = client.CoreV1Api(k8s_admin)  # a namespace admin opens the door by hand
    patch = {"metadata": {"labels": {ENFORCE: "privileged", f"{POD_SECURITY_PREFIX}warn": None}}}
    core.patch_namespace(repo.vision, patch, field_manager="kubectl-label")
    assert _settled(k8s_admin, repo.vision, "while-open", admitted=True) is None
    core.delete_namespaced_pod("while-open", repo.vision, grace_period_seconds=0)

    result = _mlcp(repo, kubeconfig, "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    [change] = [c for c in plan["changes"] if c["action"] != Action.noop.value]
    assert (change["ref"]["kind"], change["ref"]["name"]) == ("Namespace", repo.vision)
    assert sorted(d["field"] for d in change["diffs"]) == [
        f'metadata.labels["{ENFORCE}"]',
        f'metadata.labels["{POD_SECURITY_PREFIX}warn"]',
    ]
    _apply(repo, kubeconfig)
    assert _pod_security(k8s_admin, repo.vision) == BASELINE
    refused = _settled(k8s_admin, repo.vision, "after-heal", admitted=False)
    assert refused is not None and "privileged" in refused


def test_one_reconcile_pass_heals_a_hand_edit(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    rec = reconciler(repo, kubeconfig, tmp_path)
    assert rec.run_pass().converged
    patch = {"metadata": {"labels": {ENFORCE: "privileged", f"{POD_SECURITY_PREFIX}audit-version": "v1.0"}}}
    client.CoreV1Api(k8s_admin).patch_namespace(repo.nlp, patch, field_manager="kubectl-edit")
    result = rec.run_pass()
    assert result.converged, result.failed
    [outcome] = [o for o in result.outcomes if o.change.ref.kind == "Namespace"]
    assert outcome.change.ref.name == repo.nlp and "drift" in outcome.message
    assert _pod_security(k8s_admin, repo.nlp) == BASELINE


def test_the_level_is_the_trusted_bases_and_changes_once_an_admins_change_is_applied(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    _apply(repo, kubeconfig, trusted=True)
    policy = "policies/access.yaml"
    repo.edit(policy, "    level: baseline\n", f"    level: baseline\n    tenants: {{{repo.vision}: restricted}}\n")
    repo.commit("vision runs restricted (platform team)")
    _apply(repo, kubeconfig)  # the policy change is allowed and becomes the base ...
    assert _pod_security(k8s_admin, repo.vision)[ENFORCE] == "baseline"  # ... judged by the old rules meanwhile
    _apply(repo, kubeconfig)
    assert _pod_security(k8s_admin, repo.vision)[ENFORCE] == "restricted"
    assert _pod_security(k8s_admin, repo.nlp)[ENFORCE] == "baseline"
    refused = _refusal(k8s_admin, repo.vision, _pod("runs-as-root"))
    assert refused is not None and 'violates PodSecurity "restricted:latest"' in refused
