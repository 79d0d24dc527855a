"""The audit trail has no gaps: through the real CLI, the loop and the real servers.

A writer killed between a write and its outcome record leaves an open intent
that the next pass closes; a log that cannot be written stops everything
before the first write and shows on /metrics and /readyz; a cut-off log is
caught by the anchor the leader published; and `mlcp apply` and the loop
write one chain in the cluster that a second machine, holding only the
operator's settings, verifies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane.audit import JsonlStore, Result, open_intents
from tests.integration import configrepo
from tests.integration.reconcile_support import ROOT, mlcp, wait_for

pytestmark = pytest.mark.integration

CRASH_AFTER_THE_FIRST_WRITE = """
import os, sys
from pathlib import Path
from controlplane.audit import JsonlStore
from reconciler.gitsync import GitSource
from reconciler.passes import Reconciler, Settings
from reconciler.targets import Targets

root, kubeconfig, namespace, trusted, log, work = sys.argv[1:]
targets = Targets(kubeconfig, controller_namespace=namespace, trusted_base=trusted)
rec = Reconciler(GitSource(root, "main", Path(work)), Settings(targets), JsonlStore(Path(log)))

def crash(outcome):
    if outcome.change.ref.system == "kubernetes" and outcome.status.value == "applied":
        os._exit(137)  # dies between the write and its outcome record, as a kill -9 or an OOM kill would

rec.observers.append(crash)
rec.run_pass()
"""


@pytest.fixture
def repo(tmp_path: Path, prefix: str) -> configrepo.ConfigRepo:
    return configrepo.make(tmp_path, prefix)


def _namespace_exists(k8s_admin: client.ApiClient, name: str) -> bool:
    return bool(client.CoreV1Api(k8s_admin).list_namespace(field_selector=f"metadata.name={name}").items)


def _quota(k8s_admin: client.ApiClient, namespace: str) -> str | None:
    try:
        quota = client.CoreV1Api(k8s_admin).read_namespaced_resource_quota("compute", namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    assert quota.spec is not None and quota.spec.hard is not None
    return str(quota.spec.hard["requests.cpu"])


def _cli(*argv: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controlplane", *argv],
        cwd=cwd,
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _operator_env(kubeconfig: Path, repo: configrepo.ConfigRepo) -> dict[str, str]:
    """Only the operator's settings, as on a machine that never saw the config repo or anyone's log."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**keep, "KUBECONFIG": str(kubeconfig), "MLCP_CONTROLLER_NAMESPACE": repo.system_ns}


def _reconcile(repo: configrepo.ConfigRepo, kubeconfig: Path, tmp: Path, *extra: str) -> subprocess.Popen[bytes]:
    return mlcp(
        "reconcile", "--repo", str(repo.root), "--kubeconfig", str(kubeconfig), "--namespace", repo.system_ns,
        "--workdir", str(tmp / "reconcile"), "--lease-duration", "3s", *extra,
    )  # fmt: skip


def _records(log: str, *args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    listed = _cli("audit", "list", "-o", "json", "--audit-log", log, *args, env=env)
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout))


def test_a_crash_between_a_write_and_its_outcome_record_is_closed_by_the_next_pass(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, k8s_admin: client.ApiClient
) -> None:
    log = tmp_path / "audit.jsonl"
    argv = [str(repo.root), str(kubeconfig), repo.system_ns, repo.initial, str(log), str(tmp_path / "crashed")]
    crashed = subprocess.run([sys.executable, "-c", CRASH_AFTER_THE_FIRST_WRITE, *argv], cwd=ROOT, check=False)
    assert crashed.returncode == 137
    left_open = open_intents(JsonlStore(log).tail())
    assert left_open and JsonlStore(log).verify().ok, "the intents were durable before the first write"
    written = [
        r for r in left_open if r.target["kind"] == "Namespace" and _namespace_exists(k8s_admin, r.target["name"])
    ]
    assert written, "a namespace was created, and its intent has no outcome"

    proc = _reconcile(repo, kubeconfig, tmp_path, "--once", "--trusted-base", repo.initial, "--audit-log", str(log))
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    assert _quota(k8s_admin, repo.vision) == "32", "the next pass converged"
    assert open_intents(JsonlStore(log).tail()) == [] and JsonlStore(log).verify().ok

    raw = _records(str(log), "--raw", "--result", "interrupted")
    assert sorted(r["intent"] for r in raw) == sorted(r.seq for r in left_open), "each open intent closed once"
    closing = next(r for r in raw if r["intent"] == written[0].seq)
    assert "the write took effect" in closing["error"]
    changes = _records(str(log), "--kind", "Namespace")
    assert [r["result"] for r in changes if r["target"]["name"] == written[0].target["name"]] == ["interrupted"]


def _holder(k8s_admin: client.ApiClient, namespace: str) -> str | None:
    lease = client.CoordinationV1Api(k8s_admin).read_namespaced_lease("mlcp-reconciler", namespace)
    return lease.spec.holder_identity if lease.spec is not None else None


def _loop_leads(k8s_admin: client.ApiClient, namespace: str) -> bool:
    holder = _holder(k8s_admin, namespace)
    return holder is not None and not holder.startswith("mlcp-apply_")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_an_unwritable_audit_log_applies_nothing_fails_loudly_and_shows_in_metrics_and_readiness(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, k8s_admin: client.ApiClient
) -> None:
    log = tmp_path / "audit.jsonl"
    log.mkdir()  # the runner is root: a directory where the file should be is what no one can append to
    apply = _cli(
        "apply", str(repo.root), "--yes", "--kubeconfig", str(kubeconfig), *repo.operator_args(), "--audit-log",
        str(log),
    )  # fmt: skip
    said = " ".join(apply.stderr.split())
    assert apply.returncode == 1 and "cannot open the audit log for writing" in said and "nothing was applied" in said
    assert not _namespace_exists(k8s_admin, repo.vision), "mlcp apply wrote nothing"

    port = _free_port()
    loop = _reconcile(
        repo, kubeconfig, tmp_path, "--trusted-base", repo.initial, "--audit-log", str(log), "--interval", "1s",
        "--max-backoff", "1s", "--listen", f"127.0.0.1:{port}",
    )  # fmt: skip
    try:
        wait_for(lambda: "mlcp_reconcile_audit_log_writable 0.0" in _get(f"http://127.0.0.1:{port}/metrics")[1], 60,
                 "the metric to show the log cannot be written")  # fmt: skip
        status, body = _get(f"http://127.0.0.1:{port}/readyz")
        assert status == 503 and "audit log cannot be written" in body
        assert "mlcp_reconcile_audit_log_failures_total" in _get(f"http://127.0.0.1:{port}/metrics")[1]
        assert not _namespace_exists(k8s_admin, repo.vision), "the loop wrote nothing either"

        log.rmdir()  # the operator fixes the volume
        wait_for(lambda: _quota(k8s_admin, repo.vision) == "32", 60, "the loop to apply once the log works")
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/readyz")[0] == 200, 30, "readiness to recover")
        assert "mlcp_reconcile_audit_log_writable 1.0" in _get(f"http://127.0.0.1:{port}/metrics")[1]
    finally:
        loop.send_signal(signal.SIGTERM)
        _, stderr = loop.communicate(timeout=60)
    failed = [json.loads(x) for x in stderr.decode().splitlines() if x.startswith('{"') and '"pass failed"' in x]
    assert failed and all(e["stage"] == "audit" and "nothing was applied" in e["error"] for e in failed)
    assert JsonlStore(log).verify().ok and not open_intents(JsonlStore(log).tail())


def test_a_truncated_log_is_caught_by_the_anchor_the_leader_published(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, k8s_admin: client.ApiClient
) -> None:
    log = tmp_path / "audit.jsonl"
    first = _reconcile(repo, kubeconfig, tmp_path, "--once", "--trusted-base", repo.initial, "--audit-log", str(log))
    assert first.wait(timeout=180) == 0
    env = _operator_env(kubeconfig, repo)
    exported = tmp_path / "anchor.json"
    assert _cli("audit", "anchor", "export", "--out", str(exported), env=env, cwd=tmp_path).returncode == 0
    anchor = json.loads(exported.read_text())
    assert anchor["log"] == f"file:{log}" and anchor["anchor"].startswith(f"{len(log.read_bytes().splitlines())}:")
    assert _cli("audit", "verify", "--audit-log", str(log), "--anchor", "cluster", env=env).returncode == 0

    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-3]))  # someone cuts the last records off: still a valid, shorter chain
    assert _cli("audit", "verify", "--audit-log", str(log), env=env).returncode == 0
    for source in ("cluster", str(exported)):
        caught = _cli("audit", "verify", "--audit-log", str(log), "--anchor", source, env=env)
        assert caught.returncode == 1 and "records were removed" in " ".join(caught.stderr.split()), caught.stderr

    repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.cpu: "32"', 'requests.cpu: "48"')
    repo.commit("vision: 48 cpus")
    refused = _reconcile(repo, kubeconfig, tmp_path, "--once", "--audit-log", str(log))
    _, stderr = refused.communicate(timeout=180)
    assert refused.returncode == 1 and "records were removed" in stderr.decode()
    assert _quota(k8s_admin, repo.vision) == "32", "a pass on a cut-off log applies nothing"


def _trigger_a_pass(k8s_admin: client.ApiClient, namespace: str, value: str) -> None:
    """What a follower does with a webhook: bump the Lease annotation the leader watches."""
    patch = {"metadata": {"annotations": {"mlcp.dev/trigger": value}}}
    client.CoordinationV1Api(k8s_admin).patch_namespaced_lease("mlcp-reconciler", namespace, patch)


def test_a_cli_apply_and_the_loop_write_one_chain_that_a_second_machine_verifies(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, k8s_admin: client.ApiClient
) -> None:
    operator = [*repo.operator_args(), "--kubeconfig", str(kubeconfig)]
    first = _cli("apply", str(repo.root), "--yes", *operator)  # no --audit-log: the shared log in the cluster
    assert first.returncode == 0, first.stderr
    repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.cpu: "32"', 'requests.cpu: "40"')
    repo.commit("vision: 40 cpus, for the loop")
    loop = _reconcile(repo, kubeconfig, tmp_path, "--interval", "1h")  # passes: at start, on a trigger, on leading
    try:
        wait_for(lambda: _quota(k8s_admin, repo.vision) == "40", 60, "the loop's first pass")
        repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.cpu: "40"', 'requests.cpu: "44"')
        repo.commit("vision: 44 cpus, applied by hand while the loop holds the Lease")
        by_hand = _cli("apply", str(repo.root), "--yes", *repo.operator_args(trusted=False), "--kubeconfig",
                       str(kubeconfig))  # fmt: skip
        assert by_hand.returncode == 0, by_hand.stderr
        assert "taking the Lease" in by_hand.stderr and _quota(k8s_admin, repo.vision) == "44", "handed over"
        repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.cpu: "44"', 'requests.cpu: "52"')
        repo.commit("vision: 52 cpus, the loop again after the handover")
        wait_for(lambda: _loop_leads(k8s_admin, repo.system_ns), 30, "the loop to take the Lease back")
        _trigger_a_pass(k8s_admin, repo.system_ns, "after-the-handover")
        wait_for(lambda: _quota(k8s_admin, repo.vision) == "52", 60, "the loop to apply again")
    finally:
        loop.send_signal(signal.SIGTERM)
        assert loop.wait(timeout=60) == 0

    elsewhere = tmp_path / "second-machine"
    elsewhere.mkdir()
    env = _operator_env(kubeconfig, repo)
    verified = _cli("audit", "verify", "--anchor", "cluster", env=env, cwd=elsewhere)
    assert verified.returncode == 0, verified.stderr
    records = _records("cluster", "--kind", "ResourceQuota", "--tenant", repo.vision, env=env)
    cpus = [
        d["new"]
        for r in records
        if r["result"] == Result.applied.value
        for d in r["diff"]
        if d["field"] == 'spec.hard["requests.cpu"]'
    ]
    steps = [cpu for i, cpu in enumerate(cpus) if i == 0 or cpus[i - 1] != cpu]  # a watch that lags re-applies
    assert steps == ["40", "44", "52"], ("the loop's, the CLI's and the loop's writes, in one chain", records)
    copy = elsewhere / "copy.jsonl"
    assert _cli("audit", "export", "--out", str(copy), env=env, cwd=elsewhere).returncode == 0
    assert JsonlStore(copy).verify().ok and not open_intents(JsonlStore(copy).tail())
    assert not list(Path(repo.root).glob(".mlcp/audit.jsonl")), "nothing was written into the config repo"
