"""The reconcile loop against the real API server: convergence, isolation, backoff, outages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from kubernetes import client

from controlplane.audit import JsonlStore
from controlplane.audit.query import by_change
from reconciler.backends.base import Status
from reconciler.state import NAME as STATE_NAME
from tests.integration import configrepo
from tests.integration.reconcile_support import mlcp, reconciler, running, start_loop, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path, prefix: str) -> configrepo.ConfigRepo:
    return configrepo.make(tmp_path, prefix)


def _quota(k8s_admin: client.ApiClient, namespace: str, key: str) -> str | None:
    try:
        quota = client.CoreV1Api(k8s_admin).read_namespaced_resource_quota("compute", namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return str(quota.spec.hard.get(key))


def test_once_converges_then_a_pass_is_a_noop_with_one_list_per_kind(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, k8s_admin: client.ApiClient
) -> None:
    proc = mlcp(
        "reconcile", "--once", "--repo", str(repo.root), "--kubeconfig", str(kubeconfig),
        "--namespace", repo.system_ns, "--trusted-base", repo.initial,
        "--workdir", str(tmp_path / "cli"), "--audit-log", str(tmp_path / "a.jsonl"),
    )  # fmt: skip
    _, stderr = proc.communicate(timeout=120)
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert proc.returncode == 0, stderr.decode()[-3000:]
    done = [entry for entry in lines if entry["msg"] == "pass done"]
    assert done and done[0]["converged"] and done[0]["revision"] == repo.git.head.commit.hexsha
    assert all("revision" in entry and "tenant" in entry for entry in lines)
    assert _quota(k8s_admin, repo.vision, "requests.cpu") == "32"
    assert JsonlStore(tmp_path / "a.jsonl").verify().ok

    rec = reconciler(repo, kubeconfig, tmp_path)
    result = rec.run_pass()
    assert result.converged and result.outcomes == []
    from reconciler.backends.kubernetes import RESOURCES

    assert result.requests <= len(RESOURCES) + 3  # one LIST per kind, the inventory, the loop's state, the anchor
    again = rec.run_pass()
    assert again.converged and again.requests <= len(RESOURCES) + 1, "state is read once per term"
    state = client.CoreV1Api(k8s_admin).read_namespaced_config_map(STATE_NAME, repo.system_ns)
    assert repo.vision in state.data["revisions.json"]


def test_a_commit_converges_within_one_interval_and_drift_is_healed(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, k8s_admin: client.ApiClient
) -> None:
    rec = reconciler(repo, kubeconfig, tmp_path)
    assert rec.run_pass().converged
    with running(start_loop(rec, interval=1.0)) as loop:
        repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.cpu: "32"', 'requests.cpu: "40"')
        repo.commit("vision: 40 cpus")
        took = wait_for(lambda: _quota(k8s_admin, repo.vision, "requests.cpu") == "40", 15, "the new quota")
        assert took < 1.0 + 5.0, f"converged after {took:.1f}s"
        core = client.CoreV1Api(k8s_admin)
        drift = {"spec": {"hard": {"requests.cpu": "999"}}}
        core.patch_namespaced_resource_quota("compute", repo.vision, drift, field_manager="kubectl-edit")
        wait_for(lambda: _quota(k8s_admin, repo.vision, "requests.cpu") == "40", 15, "the drift to be healed")
        # the healing pass counts itself when it ends, after its write (which the wait above already saw)
        wait_for(lambda: loop.passes >= 2, 15, "the healing pass to end")
    assert rec.metrics.drift._value.get() >= 1
    records = list(by_change(JsonlStore(tmp_path / "audit.jsonl").records()))
    assert [r.action for r in records if r.target["kind"] == "ResourceQuota" and r.tenant == repo.vision] == [
        "create",
        "update",
        "update",
    ]
    assert JsonlStore(tmp_path / "audit.jsonl").verify().ok


def test_a_bad_spec_in_one_tenant_leaves_the_other_converging(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, k8s_admin: client.ApiClient
) -> None:
    rec = reconciler(repo, kubeconfig, tmp_path, prune=True)
    assert rec.run_pass().converged
    repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.cpu: "32"', "requests.cpu: lots")
    repo.edit(f"tenants/{repo.nlp}/quota.yaml", 'count/pods: "100"', 'count/pods: "150"')
    repo.commit("a typo in vision, a real change in nlp")
    result = rec.run_pass()
    assert list(result.failed) == [repo.vision] and "quota.yaml" in result.failed[repo.vision]
    assert _quota(k8s_admin, repo.nlp, "count/pods") == "150"
    assert _quota(k8s_admin, repo.vision, "requests.cpu") == "32", "the broken tenant's live objects are untouched"
    assert result.outcomes and all(o.change.tenant == repo.nlp for o in result.outcomes)

    held = rec.run_pass()  # same revision, within the backoff: vision is held, nothing is pruned
    assert repo.vision in held.held and not held.outcomes
    repo.edit(f"tenants/{repo.vision}/quota.yaml", "requests.cpu: lots", 'requests.cpu: "36"')
    repo.commit("fix the typo")
    fixed = rec.run_pass()
    assert fixed.converged and fixed.recovered == {repo.vision}
    assert _quota(k8s_admin, repo.vision, "requests.cpu") == "36"


def test_git_unreachable_backs_off_then_recovers(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, k8s_admin: client.ApiClient
) -> None:
    rec = reconciler(repo, kubeconfig, tmp_path)
    assert rec.run_pass().converged
    hidden = repo.root.with_name("moved-away")
    shutil.move(repo.root, hidden)
    loop = start_loop(rec, interval=0.5)
    with running(loop):
        wait_for(lambda: loop.passes >= 3, 20, "three failed passes")
        assert loop.last is not None and loop.last.stage == "fetch"
        assert loop._failures >= 3 and rec.metrics.errors.labels("fetch")._value.get() >= 3
        assert loop.healthy()[0], "a controller that cannot fetch is still alive and serving metrics"
        shutil.move(hidden, repo.root)
        repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.cpu: "32"', 'requests.cpu: "44"')
        repo.commit("while git was away")
        wait_for(lambda: _quota(k8s_admin, repo.vision, "requests.cpu") == "44", 20, "recovery")
    assert loop._failures == 0
    assert [o.status for o in (loop.last.outcomes if loop.last else [])] in ([], [Status.applied])
