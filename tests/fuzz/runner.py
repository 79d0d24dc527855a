"""Runs hostile repos through mlcp and checks its promises: no traceback, no crashed pass, nothing from a bad tenant.

`validate_case` runs `mlcp validate` in-process (as CliRunner does) and the
loop's own load (partition: validate, set broken tenants aside, render), and
checks that every error is a Diagnostic with a place, and that no object is
rendered for a tenant set aside. `reconcile_case` commits a hostile repo and
runs one real `mlcp reconcile --once` pass against the real servers, then reads
the cluster and the audit log back. Each returns an `Outcome`; `problem` says
what went wrong (with the traceback), None when every promise held.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from typer.testing import CliRunner

import tests.controlplane.helpers  # noqa: F401 - builds the CLI command once, not on every invoke
from controlplane.audit import JsonlStore
from controlplane.cli.app import app
from controlplane.errors import InvalidConfig
from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render
from reconciler import partition
from tests.fuzz import hostile

ROOT = Path(__file__).resolve().parents[2]
cli = CliRunner()


@dataclass
class Outcome:
    case: hostile.Case
    seconds: float
    problem: str | None = None
    crashed_pass: bool = False


def _check_report(output: str) -> str | None:
    report = json.loads(output)
    for error in report["errors"]:
        if not (error["path"] and error["line"] >= 1 and error["column"] >= 1 and error["message"]):
            return f"a diagnostic without a place or a message: {error}"
    return None


def _loop_view(root: Path) -> str | None:
    """The loop's load: broken tenants left out, and none of their objects rendered."""
    try:
        kept, broken = partition.isolate(load_repo(root))
    except InvalidConfig as exc:
        if all(partition.tenant_of_path(d.path) for d in exc.diagnostics):
            return "InvalidConfig with tenant problems only: one tenant stopped every other"
        return None
    leaked = [o.ref for o in render(RenderContext(kept, {})) if o.tenant in broken]
    return f"objects rendered for tenants set aside: {leaked[:3]}" if leaked else None


def validate_case(root: Path, seed: int, anywhere: bool = True) -> Outcome:
    """Build case `seed` at `root` and run it through `mlcp validate` and the loop's load."""
    case = hostile.build(root, seed, anywhere)
    began = time.perf_counter()
    try:
        result = cli.invoke(app, ["validate", str(root), "--output", "json"])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            trace = "".join(traceback.format_exception(result.exception))
            return Outcome(case, time.perf_counter() - began, f"mlcp validate raised:\n{trace}")
        if result.exit_code not in (0, 1):
            return Outcome(case, time.perf_counter() - began, f"exit {result.exit_code}: {result.output[-2000:]}")
        problem = _check_report(result.stdout) or _loop_view(root)
    except Exception:
        problem = f"the loop's load raised:\n{traceback.format_exc()}"
    return Outcome(case, time.perf_counter() - began, problem)


@dataclass
class Servers:
    kubeconfig: Path
    mlflow_uri: str
    admin: client.ApiClient


def _broken(root: Path) -> tuple[set[str], bool]:
    """Tenants the loop must set aside, and whether the revision has a repo-wide problem."""
    try:
        return set(partition.isolate(load_repo(root))[1]), False
    except InvalidConfig:
        return set(), True


def _run_once(repo: Any, servers: Servers, work: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLCP_TRUSTED_BASE": repo.initial, "MLCP_CONTROLLER_NAMESPACE": repo.system_ns}
    return subprocess.run(
        [
            sys.executable, "-m", "controlplane", "reconcile", "--once", "--repo", str(repo.root), "--no-leader-elect",
            "--audit-log", str(work / "audit.jsonl"), "--kubeconfig", str(servers.kubeconfig),
            "--tracking-uri", servers.mlflow_uri, "--workdir", str(work / "reconcile"), "--no-watch",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def _tenant_namespaces(servers: Servers, tenant: str) -> list[str]:
    if not LABEL_VALUE.match(tenant):
        return []  # no object can carry this name as its tenant label
    found = client.CoreV1Api(servers.admin).list_namespace(label_selector=f"mlcp.dev/tenant={tenant}")
    return [str(ns.metadata.name) for ns in found.items if ns.metadata is not None]


def _pass_problem(done: subprocess.CompletedProcess[str], global_problem: bool) -> tuple[str | None, bool]:
    if "Traceback" in done.stderr or done.returncode not in (0, 1):
        return f"exit {done.returncode}:\n{done.stderr[-4000:]}", True
    try:
        lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    except ValueError:
        return f"a log line that is not JSON:\n{done.stderr[-2000:]}", True
    failed = [line for line in lines if line.get("msg") == "pass failed"]
    if failed:
        why = "a repo-wide error from a tenant folder's content" if global_problem else "a tenant's problem"
        return f"the pass failed for {why}: {failed[0]}", True
    return None, False


def reconcile_case(repo: Any, seed: int, servers: Servers, work: Path) -> Outcome | None:
    """Commit case `seed`'s attacks (tenant folders only) on `repo` and run one real pass; None: not committable."""
    case = hostile.attack(repo.root, seed, repo.nlp, repo.vision, anywhere=False)
    if not case.committable:
        return None
    repo.commit(f"fuzz case {seed}")
    broken, global_problem = _broken(repo.root)  # attacks stay in tenant folders: no reason to stop everyone
    began = time.perf_counter()
    done = _run_once(repo, servers, work)
    seconds = time.perf_counter() - began
    problem, crashed = _pass_problem(done, global_problem)
    if problem is None:
        for tenant in sorted(broken):
            if _tenant_namespaces(servers, tenant):
                problem = f"tenant {tenant!r} was set aside but has a namespace applied"
        log = work / "audit.jsonl"
        records = JsonlStore(log).records() if log.exists() else iter(())  # a pass that wrote nothing has no log
        audited = {r.tenant for r in records if r.rule == "invalid-specs"}
        if problem is None and not broken <= audited:
            problem = f"set-aside tenants not audited: {sorted(broken - audited)}"
        # a claim of vision's namespace too: the trusted base (the initial commit) gives it to vision
        converged = global_problem or repo.vision in broken or _tenant_namespaces(servers, repo.vision)
        if problem is None and not converged:
            problem = f"{repo.vision} (untouched) did not converge:\n{done.stderr[-3000:]}"
    return Outcome(case, seconds, problem, crashed)
