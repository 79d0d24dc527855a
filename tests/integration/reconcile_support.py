"""Helpers for reconcile-loop tests: an in-process loop in a thread, and `mlcp reconcile` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from controlplane.audit import JsonlStore
from reconciler.gitsync import GitSource
from reconciler.loop import Loop, LoopConfig
from reconciler.passes import Reconciler, Settings
from tests.integration import configrepo

ROOT = Path(__file__).resolve().parents[2]


def reconciler(repo: configrepo.ConfigRepo, kubeconfig: Path, tmp: Path, **settings: object) -> Reconciler:
    return Reconciler(
        GitSource(str(repo.root), "main", tmp / "work"),
        Settings(repo.targets(kubeconfig), **settings),  # type: ignore[arg-type]
        JsonlStore(tmp / "audit.jsonl"),
    )


@contextmanager
def running(loop: Loop) -> Iterator[Loop]:
    """The loop in a background thread, stopped (and joined) on exit."""
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(loop.run()), daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.stop()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the loop did not stop"
        assert codes == [0]


def start_loop(rec: Reconciler, interval: float = 1.0) -> Loop:
    return Loop(rec, LoopConfig(interval=interval))


def wait_for(check: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> float:
    """Seconds until `check()` held; fails after `timeout`."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return time.monotonic() - began
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def mlcp(*argv: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[bytes]:
    """`mlcp ARGV` as a subprocess (stderr: the JSON log lines)."""
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "controlplane", *argv],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )
