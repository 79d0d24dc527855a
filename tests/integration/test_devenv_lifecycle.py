"""Starting and stopping leaves nothing behind: no process, no temp dir; dev-up/dev-down work.

These start environments of their own (besides the session's), so they need
the local binaries even when the session targets an existing cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client

from devenv import Environment, binaries, daemon
from devenv.clients import api_client
from devenv.mlflowserver import MlflowServer
from tests.integration.mlflow_rest import MlflowError, MlflowRest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, Argo's workflow-controller, kwok
PROCESSES = 6


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead but not yet reaped by its parent
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def _wait_dead(pids: list[int], timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def test_environment_stop_leaves_no_process_and_no_files() -> None:
    env = Environment(mlflow=False, users={"erin": ("team-e",)})
    with env:
        pids = [p.pid for p in env.processes() if p.pid]
        root = env.root
        assert len(pids) == PROCESSES
        # six servers and Argo's and KServe's full CRDs: ~12-15 s on 2 busy cores (docs/testing.md)
        assert env.startup_seconds < 30, f"warm start took {env.startup_seconds:.1f} s"
        with api_client(env.user_kubeconfigs["erin"]) as api:
            with pytest.raises(client.ApiException) as info:
                client.CoreV1Api(api).list_namespace()
            assert info.value.status == 403
    assert _wait_dead(pids, timeout=1) == []
    assert root is not None and not root.exists()


def test_sigterm_to_the_owner_stops_the_servers(tmp_path: Path) -> None:
    """A test run killed with SIGTERM (CI timeout, Ctrl-C) still takes its servers down."""
    script = (
        "import sys, time\n"
        "from devenv import Environment, install_signal_handlers\n"
        "install_signal_handlers()\n"
        "env = Environment(mlflow=False).start()\n"
        "print(' '.join(str(p.pid) for p in env.processes()), flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert owner.stdout is not None
        pids = [int(p) for p in owner.stdout.readline().split()]
        assert len(pids) == PROCESSES, "the environment did not start"
        owner.send_signal(signal.SIGTERM)
        owner.wait(timeout=60)
        assert _wait_dead(pids) == []
    finally:
        if owner.poll() is None:
            owner.kill()


def test_dev_up_writes_exports_and_dev_down_stops_everything(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    up = subprocess.run(
        [sys.executable, "-m", "devenv", "up", "--state-dir", str(state_dir)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        state = daemon.read_state(state_dir)
        assert state is not None
        exports = (state_dir / daemon.ENV_FILE).read_text()
        assert f"export KUBECONFIG={state['kubeconfig']}" in exports
        assert f"export MLFLOW_TRACKING_URI={state['mlflowTrackingUri']}" in exports
        assert state["kubeconfig"] in up.stdout and state["mlflowTrackingUri"] in up.stdout
        with api_client(Path(state["kubeconfig"])) as api:
            assert client.VersionApi(api).get_code().git_version == binaries.KUBERNETES_VERSION
        pids = [state["supervisorPid"], *state["pids"].values()]
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "devenv", "down", "--state-dir", str(state_dir)],
            capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
        )  # fmt: skip
    assert down.returncode == 0, down.stdout + down.stderr
    assert _wait_dead(pids) == []
    assert not (state_dir / daemon.ENV_FILE).exists()
    assert daemon.read_state(state_dir) is None


def test_mlflow_basic_auth_refuses_anonymous_requests(tmp_path: Path) -> None:
    server = MlflowServer(tmp_path / "mlflow", tmp_path / "mlflow.log", basic_auth=True)
    server.start()
    try:
        server.wait_ready(90)
        anonymous = MlflowRest(server.uri)
        with pytest.raises(MlflowError) as info:
            anonymous.post("registered-models/create", name="nope")
        assert info.value.status == 401
        creds = server.admin_credentials()
        assert creds is not None
        admin = MlflowRest(server.uri, auth=(creds["username"], creds["password"]))
        assert admin.post("registered-models/create", name="yes")["registered_model"]["name"] == "yes"
    finally:
        server.stop()
