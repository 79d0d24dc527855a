"""A server outlives no owner: the kernel's death signal reaches it even when the owner is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# the owner: starts a server that ignores SIGTERM (as Argo's workflow-controller effectively does once its API
# server is gone), prints the server's pid, then waits to be killed without any chance to clean up
OWNER = """
import signal, sys, time
from pathlib import Path
from devenv.processes import ServerProcess
server = ServerProcess(
    "stubborn",
    [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"],
    Path(sys.argv[1]),
    death_signal=signal.Signals[sys.argv[2]],
)
server.start()
print(server.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead: it waits only for its (new) parent to reap it
    stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _server_of_killed_owner(tmp_path: Path, death_signal: str) -> int:
    root = Path(__file__).resolve().parents[2]
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path / "server.log"), death_signal],
        stdout=subprocess.PIPE,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert owner.stdout is not None
    pid = int(owner.stdout.readline())
    time.sleep(0.3)  # the server has set its signal handler
    owner.kill()
    owner.wait()
    return pid


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_server_that_ignores_sigterm_dies_with_an_owner_killed_by_sigkill(tmp_path: Path) -> None:
    pid = _server_of_killed_owner(tmp_path, "SIGKILL")
    assert _gone_within(pid, 5.0), f"server {pid} outlived its owner"


def test_the_default_death_signal_is_sigterm_which_such_a_server_survives(tmp_path: Path) -> None:
    pid = _server_of_killed_owner(tmp_path, "SIGTERM")
    try:
        assert not _gone_within(pid, 1.0), "the control case: SIGTERM should not stop this server"
    finally:
        os.killpg(pid, signal.SIGKILL)
        assert _gone_within(pid, 5.0)
