"""The benchmarks still run: each at three tenants against the session's API server.

Benchmarks are not tests (their speed targets are printed, not asserted), so nothing else would notice one that
no longer runs after a refactor. This runs them end to end at a size where only their functional rows mean
anything — no changes after apply, requests within one per kind — and leaves timing to the real runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, kubeconfig: Path, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--tenants", "3", "--use-kubeconfig", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


def _row(output: str, measure: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(measure))


def test_plan_apply_runs(kubeconfig: Path) -> None:
    output = _run("plan_apply.py", kubeconfig)
    assert "3 tenants → 21 objects per set" in output
    assert _row(output, "no-op mlcp plan: changes").split()[-2:] == ["0", "✓"]
    assert _row(output, "no-op mlcp plan: requests").endswith("✓")


def test_reconcile_runs(kubeconfig: Path) -> None:
    output = _run("reconcile.py", kubeconfig, "--rounds", "1")
    assert _row(output, "no-op pass, watch cache: API requests").split()[-2:] == ["0", "✓"]
    assert _row(output, "no-op pass, listing: API requests").endswith("✓")
    assert _row(output, "commit → converged: each round")
