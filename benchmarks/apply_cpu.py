"""CPU per object of a first `mlcp apply`: the client's own and each server process's, run after run.

Why CPU and not time: on a shared two-core machine an apply's wall time is mostly the others' load, while the
CPU each process spends per object moves much less (it still rises with the load: caches, frequency). And why
per process: a first apply on two cores is bound by the client's CPU plus the API server's, etcd's and the
controller-manager's (docs/performance.md, session 17), so a change is worth what it takes off their sum.

Each run starts a fresh local control plane (no Argo: its controller would react to every tenant), applies a
fresh N-tenant repo with `--concurrency 32` as benchmarks/plan_apply.py does, and reads the processes' CPU from
/proc. With `--compare DIR` (another checkout's root, e.g. `git worktree add /tmp/base main`) runs alternate
between this checkout and DIR, so the machine's load drifts over both alike; the medians are printed per side.

Usage: .venv/bin/python benchmarks/apply_cpu.py [--tenants 1000] [--runs 3] [--compare DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SERVERS = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler")


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, pid in pids.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / tick
    return used


def one_run(code: Path, tenants: int) -> dict[str, float]:
    """Milliseconds of CPU per object written: the client's, each server's, and their sum."""
    from devenv import testing
    from devenv.tenantrepo import git, make_repo

    target = testing.start(workflows=False)
    try:
        assert target.env is not None and target.env.kube is not None
        pids = {p.name: p.pid for p in target.env.kube.processes if p.pid is not None}
        with tempfile.TemporaryDirectory(prefix="mlcp-applycpu-") as tmp:
            work = Path(tmp)
            make_repo(work / "repo", "ma", tenants, "mlcp-bench-a")
            env = {
                **os.environ,
                "KUBECONFIG": str(target.kubeconfig),
                "MLCP_CONTROLLER_NAMESPACE": "mlcp-bench-a",
                "MLCP_AUDIT_LOG": str(work / "audit.jsonl"),
                "MLCP_TRUSTED_BASE": git(work / "repo", "rev-parse", "HEAD"),
                "PYTHONPATH": str(code),
            }
            command = [sys.executable, "-m", "controlplane", "apply", str(work / "repo"), "--yes"]
            before, children = _cpu(pids), resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run([*command, "--concurrency", "32"], env=env, capture_output=True, check=False)
            after, ended = _cpu(pids), resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                raise SystemExit(f"mlcp apply failed ({done.returncode}):\n{done.stderr.decode()[-3000:]}")
        objects = tenants * 7
        client = (ended.ru_utime + ended.ru_stime) - (children.ru_utime + children.ru_stime)
        row = {"client": client / objects * 1000}
        row.update({name: (after[name] - before[name]) / objects * 1000 for name in after})
        row["total"] = sum(row.values())
        row["load"] = os.getloadavg()[0]
        return row
    finally:
        target.stop(keep_files=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="runs per checkout")
    parser.add_argument("--compare", type=Path, help="another checkout's root, run alternately with this one")
    args = parser.parse_args()
    sides = {"this": ROOT, **({"compare": args.compare.resolve()} if args.compare else {})}
    rows: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    columns = ["client", *SERVERS, "total"]
    print(f"CPU ms per object, first apply of {args.tenants} tenants ({args.tenants * 7} objects)")
    print(f"  {'run':10} " + " ".join(f"{c[:14]:>14}" for c in columns) + "   load")
    for n in range(args.runs):
        for side, code in sides.items():
            started = time.perf_counter()
            row = one_run(code, args.tenants)
            rows[side].append(row)
            cells = " ".join(f"{row.get(c, 0.0):14.3f}" for c in columns)
            took = time.perf_counter() - started
            print(f"  {side} {n + 1:<5} {cells} {row['load']:6.1f}  ({took:.0f} s)", flush=True)
    for side, found in rows.items():
        cells = " ".join(f"{statistics.median(r.get(c, 0.0) for r in found):14.3f}" for c in columns)
        print(f"  {side + ' median':10} {cells}")
    import machine

    print(machine.conditions())


if __name__ == "__main__":
    main()
