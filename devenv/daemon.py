"""`make dev-up` / `make dev-down`: the test environment, kept running in the background.

`up` builds what is missing in the foreground (so progress shows), then starts a
detached supervisor (`serve`) that owns the servers, writes `state.json` and
the shell exports in `dev.env`, and stops everything when it gets SIGTERM.
`down` sends that SIGTERM and, should the supervisor not answer, kills the
process groups it recorded. Everything lives under one state directory
(`.mlcp/` of the checkout by default), which is git-ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devenv import seed
from devenv.binaries import ensure_built
from devenv.environment import Environment, install_signal_handlers
from devenv.mlflowserver import ensure_installed
from devenv.processes import tail

STATE_FILE = "state.json"
ENV_FILE = "dev.env"
LOG_FILE = "devenv.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(state_dir: Path) -> dict[str, Any] | None:
    """The running environment's state, or None if none is running."""
    try:
        state: dict[str, Any] = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if _alive(int(state.get("supervisorPid", 0))) else None


def _exports(state: dict[str, Any]) -> str:
    lines = [
        "# Written by `make dev-up` (python -m devenv up); `source` it.",
        f"export KUBECONFIG={shlex.quote(state['kubeconfig'])}",
    ]
    if state.get("mlflowTrackingUri"):
        lines.append(f"export MLFLOW_TRACKING_URI={shlex.quote(state['mlflowTrackingUri'])}")
    if state.get("mlflowAdmin"):
        lines.append(f"export MLFLOW_TRACKING_USERNAME={shlex.quote(state['mlflowAdmin']['username'])}")
        lines.append(f"export MLFLOW_TRACKING_PASSWORD={shlex.quote(state['mlflowAdmin']['password'])}")
    for user, path in sorted(state["users"].items()):
        lines.append(f"# as {user}: export KUBECONFIG={shlex.quote(path)}")
    return "\n".join(lines) + "\n"


def summary(state: dict[str, Any], state_dir: Path) -> str:
    return (
        f"Kubernetes {state['kubernetesVersion']} API server: {state['apiServer']}\n"
        f"Argo Workflows:      {state.get('argoWorkflowsVersion')} (controller in namespace argo), "
        f"KWOK {state.get('kwokVersion')} (fake nodes kwok-cpu-0, kwok-gpu-0)\n"
        f"admin kubeconfig:    {state['kubeconfig']}\n"
        + "".join(f"{user + ' kubeconfig:':<21}{path}\n" for user, path in state["users"].items())
        + f"MLflow tracking URI: {state.get('mlflowTrackingUri')}\n"
        f"logs:                {state['logs']}\n"
        f"shell exports:       source {state_dir / ENV_FILE}\n"
    )


def serve(state_dir: Path, mlflow_basic_auth: bool = False) -> int:
    """The supervisor: run the environment until SIGTERM/SIGINT."""
    install_signal_handlers()
    root = state_dir / "env"
    shutil.rmtree(root, ignore_errors=True)
    env = Environment(root=root, mlflow_basic_auth=mlflow_basic_auth)
    try:
        env.start()
        state = {**env.describe(), "supervisorPid": os.getpid(), "startupSeconds": round(env.startup_seconds, 1)}
        (state_dir / ENV_FILE).write_text(_exports(state))
        (state_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
        print(f"devenv: ready in {env.startup_seconds:.1f} s", flush=True)
        while True:
            for process in env.processes():
                if process.exited() is not None:
                    print(f"devenv: {process.name} exited; stopping", flush=True)
                    return 1
            time.sleep(1)
    except (KeyboardInterrupt, SystemExit):
        print("devenv: stopping", flush=True)
        return 0
    finally:
        env.stop(keep_files=True)
        for name in (STATE_FILE, ENV_FILE):
            (state_dir / name).unlink(missing_ok=True)


def up(state_dir: Path, mlflow_basic_auth: bool = False, timeout: float = 180.0) -> int:
    """Start the supervisor in the background and wait until it is ready."""
    state_dir.mkdir(parents=True, exist_ok=True)
    running = read_state(state_dir)
    if running:
        print("devenv: already running\n" + summary(running, state_dir))
        return 0
    seed.ensure(ensure_built())
    ensure_installed()
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    argv = [sys.executable, "-m", "devenv", "serve", "--state-dir", str(state_dir)]
    if mlflow_basic_auth:
        argv.append("--mlflow-basic-auth")
    log = state_dir / LOG_FILE
    # devenv is not installed (it stays out of the wheel): the supervisor imports it from this checkout.
    checkout = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (checkout, os.environ.get("PYTHONPATH", "")) if p)
    with log.open("wb") as out:
        child = subprocess.Popen(
            argv,
            env=dict(os.environ, PYTHONPATH=path),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while (state := read_state(state_dir)) is None:
        if child.poll() is not None or time.monotonic() > deadline:
            if child.poll() is None:
                child.terminate()
            print(f"devenv: failed to start; {log}:\n{tail(log, 60)}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"devenv: started in {state['startupSeconds']} s (supervisor pid {child.pid})")
    print(summary(state, state_dir))
    return 0


def down(state_dir: Path, timeout: float = 30.0) -> int:
    """Stop what `up` started; killing recorded process groups as a last resort."""
    try:
        state = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        print("devenv: nothing is running")
        return 0
    pid = int(state["supervisorPid"])
    leftovers: list[int] = []
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):  # hung: kill its group and the servers' groups it recorded
            leftovers = [pid, *(int(p) for p in state.get("pids", {}).values())]
            for group in leftovers:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
    for name in (STATE_FILE, ENV_FILE):
        (state_dir / name).unlink(missing_ok=True)
    print("devenv: stopped" + (f" (killed {leftovers})" if leftovers else ""))
    return 0
