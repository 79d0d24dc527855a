"""Plan/apply at scale against the real local API server, measured against kubectl in the same run.

Generates N tenants (9 objects each: Namespace, two ServiceAccounts, Role, four
RoleBindings, NetworkPolicy — 9,001 objects at N=1,000 with the deployer
ClusterRole) twice, as two
disjoint sets of identical shape: mlcp applies set A from a config repo,
kubectl applies set B's rendered manifests (`kubectl apply --server-side`).
Then, with both applied, a no-op `mlcp plan` on A is compared with
`kubectl diff --server-side` on B. Prints requests sent by the no-op plan,
times, ratios, each command's own peak RSS and CPU, the
control plane's CPU meanwhile, and the apply speed-up the machine's cores allow.
Not a test: targets are reported, not asserted.

Usage: .venv/bin/python benchmarks/plan_apply.py [--tenants 1000] [--concurrency 32] [--skip-diff]
--skip-diff leaves out `kubectl diff` (20 minutes at 10,000 tenants), so only the apply is compared; the no-op
mlcp plan is still run for its requests and memory, and the plan speed-up row says it was not measured.
(starts its own local environment, or uses $KUBECONFIG with --use-kubeconfig)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SETTLE_SECONDS_PER_TENANT, SETTLE_MAX_SECONDS = 0.03, 60.0
"""30 s at 1,000 tenants (see the sleep below), at most a minute; a smoke run of a few tenants barely waits."""

RSS_SMALL_TENANTS, RSS_SMALL_MB = 1000, 300
PLAN_TARGET, APPLY_TARGET = {True: 20.0, False: 30.0}, {True: 2.0, False: 3.0}
"""Speed-ups against kubectl: up to 1,000 tenants issue 7's (20x, 2x); beyond, issue 16's (30x, 3x)."""
"""Up to 1,000 tenants a command stays within 300 MB (the figures of earlier sessions must not get worse)."""
RSS_LIMIT_MB = 1024
"""Beyond, within the shipped Deployment's memory limit (1 GiB)."""

CPU: dict[str, float] = {}
"""CPU seconds (user + sys) of each measured command, by its first three words."""


_WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[2:]).returncode\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(json.dumps([u.ru_maxrss, u.ru_utime + u.ru_stime]))\n"
    "sys.exit(code)\n"
)
"""Runs the measured command and reports its rusage. Linux carries the peak RSS of the process that forks a
child into the child's `ru_maxrss` (across exec), and this benchmark's process holds set B's rendered manifests:
a small wrapper between them makes the figure the command's own (as tests/peak.py does for tests)."""


SERVERS: dict[str, int] = {}
"""The local control plane's processes (name → pid) when the benchmark started them: their CPU is counted."""
SERVER_CPU: dict[str, float] = {}
"""CPU seconds the control plane (API server, etcd, controller-manager, scheduler) spent during each command."""
SERVER_CPU_BY_PROCESS: dict[str, dict[str, float]] = {}
"""The same, by process: which server the command's requests (and the reactions to them) cost."""
IDLE_SECONDS = 10.0
"""How long the quiet control plane is sampled before the applies, for its CPU rate with no client."""


def _server_cpu_by_process() -> dict[str, float]:
    """CPU seconds (user + sys) each control-plane process used so far (none when they are not ours to see)."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for name, pid in SERVERS.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[name] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15 of stat)
    return used


def _server_cpu() -> float:
    """CPU seconds (user + sys) the control plane's processes used so far (0 when they are not ours to see)."""
    return sum(_server_cpu_by_process().values())


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str, int]:
    """Wall time, the command's own peak RSS in MB, stdout and exit code."""
    server_before = _server_cpu_by_process()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        report = Path(tmp) / "rusage"
        proc = subprocess.run(
            [sys.executable, "-c", _WRAPPER, str(report), *cmd], check=False, env=env, stdout=out, stderr=err
        )
        elapsed = time.perf_counter() - start
        maxrss, cpu = json.loads(report.read_text())
        name = " ".join(Path(c).name for c in cmd[:4])
        CPU[name] = cpu
        server_after = _server_cpu_by_process()
        SERVER_CPU_BY_PROCESS[name] = {p: server_after[p] - server_before.get(p, 0.0) for p in server_after}
        SERVER_CPU[name] = sum(SERVER_CPU_BY_PROCESS[name].values())
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return elapsed, maxrss / 1024, stdout, proc.returncode


def rendered_manifests(repo: Path, out_dir: Path) -> int:
    from controlplane.loading.repo import load_repo
    from controlplane.rendering import RenderContext, render

    objects = render(RenderContext(load_repo(repo)))
    # Set B is the same objects, but kubectl's: without mlcp's managed-by label, so mlcp's plan of set A reads
    # only its own objects, as in a real cluster where other tools' objects do not claim to be mlcp's.
    for obj in objects:
        obj.manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "kubectl-bench"
        if obj.ref.namespace is None and obj.ref.kind != "Namespace":  # the one cluster-wide role: its own name
            obj.manifest["metadata"]["name"] = "kubectl-bench-deployer"
    out_dir.mkdir(parents=True)
    # One file per rank so kubectl creates namespaces before what lives in them.
    by_rank: dict[int, list[dict[str, object]]] = {}
    for obj in objects:
        by_rank.setdefault(obj.rank, []).append(obj.manifest)
    for rank, manifests in sorted(by_rank.items()):
        (out_dir / f"{rank:03d}.yaml").write_text(yaml.safe_dump_all(manifests, sort_keys=False))
    return len(objects)


def head(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def bench(
    kubeconfig: str, kubectl: str, tenants: int, work: Path, concurrency: int = 32, *, skip_diff: bool = False
) -> None:
    # A local audit log, as before the shared cluster log: kubectl audits nothing, so the comparison stays the
    # apply itself (the cluster log's cost is measured in docs/audit.md).
    env = {
        **os.environ,
        "KUBECONFIG": kubeconfig,
        "MLCP_CONTROLLER_NAMESPACE": "mlcp-bench-a",
        "MLCP_AUDIT_LOG": str(work / "audit.jsonl"),
    }
    from devenv.tenantrepo import make_repo

    mlcp = [sys.executable, "-m", "controlplane"]
    repo_a, repo_b = work / "repo-a", work / "repo-b"
    make_repo(repo_a, "ma", tenants, "mlcp-bench-a")
    make_repo(repo_b, "kb", tenants, "mlcp-bench-b")
    objects = rendered_manifests(repo_b, work / "manifests-b")
    print(f"{tenants} tenants → {objects} objects per set")
    idle_rate = _idle_rate()

    t_mlcp_apply, rss_apply, _, _ = timed(
        [*mlcp, "apply", str(repo_a), "--yes", "--concurrency", str(concurrency)],
        {**env, "MLCP_TRUSTED_BASE": head(repo_a)},
    )
    kubectl_apply = [kubectl, "apply", "--server-side", "--field-manager", "bench", "-f", str(work / "manifests-b")]
    t_kubectl_apply, _, _, _ = timed(kubectl_apply, env)

    # Let the controller-manager finish reacting to 18,000 new objects (service accounts, CA config maps) so
    # both no-op comparisons run on the same quiet server; the short mlcp plan is taken best of three.
    time.sleep(min(SETTLE_SECONDS_PER_TENANT * tenants, SETTLE_MAX_SECONDS))
    runs = [timed([*mlcp, "plan", str(repo_a), "-o", "json", "--detailed-exitcode"], env) for _ in range(3)]
    t_plan, rss_plan, out, code = min(runs, key=lambda r: r[0])
    plan = json.loads(out)
    requests = plan["meta"]["requests"]["kubernetes"]
    from reconciler.backends.kubernetes import PAGE_SIZE, RESOURCES

    # One LIST per kind per page of its objects, plus the inventory's read: the rule benchmarks/listbound.py
    # states. Set A has set B's shape, so B's manifests give the counts per kind.
    per_kind: dict[tuple[str, str], int] = {}
    for path in (work / "manifests-b").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            key = (str(doc["apiVersion"]), str(doc["kind"]))
            per_kind[key] = per_kind.get(key, 0) + 1
    import listbound

    bound = listbound.list_bound(per_kind, ((r.api_version, r.kind) for r in RESOURCES), PAGE_SIZE)

    kubectl_diff = [kubectl, "diff", "--server-side", "--field-manager", "bench", "-f", str(work / "manifests-b")]
    t_diff, diff_code = 0.0, 0
    if not skip_diff:
        t_diff, _, _, diff_code = timed(kubectl_diff, {**env, "KUBECTL_EXTERNAL_DIFF": "true"})

    small = tenants <= RSS_SMALL_TENANTS
    limit = RSS_SMALL_MB if small else RSS_LIMIT_MB
    plan_target, apply_target = PLAN_TARGET[small], APPLY_TARGET[small]
    rows = [
        ("no-op mlcp plan: changes", plan["summary"]["create"] + plan["summary"]["update"], "0", code == 0),
        (
            "no-op mlcp plan: requests",
            requests,
            f"<= {bound} (1 per kind per page of {PAGE_SIZE}, + 1 after a full last page, + inventory)",
            requests <= bound,
        ),
        ("no-op plan: mlcp s (best of 3)", round(t_plan, 2), "", True),
        *(
            [
                ("no-op diff: kubectl diff --server-side s", "-", "not measured (--skip-diff)", None),
                ("plan speed-up vs kubectl diff", "-", "not measured (--skip-diff)", None),
            ]
            if skip_diff
            else [
                ("no-op diff: kubectl diff --server-side s", round(t_diff, 2), f"exit {diff_code}", True),
                (
                    "plan speed-up vs kubectl diff",
                    round(t_diff / t_plan, 1),
                    f">= {plan_target:.0f}x",
                    t_diff / t_plan >= plan_target,
                ),
            ]
        ),
        ("first apply: mlcp s", round(t_mlcp_apply, 2), "", True),
        ("first apply: kubectl apply --server-side s", round(t_kubectl_apply, 2), "", True),
        (
            "apply speed-up vs kubectl",
            round(t_kubectl_apply / t_mlcp_apply, 2),
            f">= {apply_target:.0f}x",
            t_kubectl_apply / t_mlcp_apply >= apply_target,
        ),
        ("peak RSS mlcp apply MB", round(rss_apply), f"<= {limit}", rss_apply <= limit),
        ("peak RSS mlcp plan MB", round(rss_plan), f"<= {limit}", rss_plan <= limit),
    ]
    print(f"{'measure':45} {'value':>10}  target")
    for name, value, target, ok in rows:
        print(f"{name:45} {value!s:>10}  {target} {'' if not target or ok is None else ('✓' if ok else '✗')}")
    print("CPU seconds (user+sys) per command: the client's own, and the control plane's meanwhile")
    print(f"  {'command':60} {'client':>8} {'servers':>8}")
    for name, seconds in CPU.items():
        server = f"{SERVER_CPU[name]:8.2f}" if SERVERS else "       -"
        print(f"  {name:60} {seconds:8.2f} {server}")
    if SERVERS:
        _server_breakdown(idle_rate)
        _apply_bound(objects, t_kubectl_apply)
    import machine

    print(machine.conditions())


def _idle_rate() -> float:
    """The quiet control plane's CPU rate (cores) with no client: leases, resyncs, etcd's heartbeats."""
    if not SERVERS:
        return 0.0
    before, start = _server_cpu(), time.perf_counter()
    time.sleep(IDLE_SECONDS)
    return (_server_cpu() - before) / (time.perf_counter() - start)


def _server_breakdown(idle_rate: float) -> None:
    """Which server each command's CPU went to; the idle rate says how much any command of that length costs."""
    names = sorted({p for used in SERVER_CPU_BY_PROCESS.values() for p in used})
    print(f"The servers' CPU seconds by process (quiet, no client: {idle_rate:.3f} cores)")
    print(f"  {'command':44} " + " ".join(f"{n[:14]:>14}" for n in names))
    for command, used in SERVER_CPU_BY_PROCESS.items():
        print(f"  {command:44} " + " ".join(f"{used.get(n, 0.0):14.2f}" for n in names))


def _apply_bound(objects: int, t_kubectl: float) -> None:
    """The apply speed-up this machine allows: a write costs client + server CPU wherever it comes from, and
    all of it must fit on the cores; kubectl's serial apply uses about one core at a time."""
    cores = os.cpu_count() or 1
    mlcp = next(n for n in CPU if n.endswith(" apply"))
    kubectl = next(n for n in CPU if "kubectl apply" in n)
    per_object = {n: (CPU[n] + SERVER_CPU[n]) / objects * 1000 for n in (mlcp, kubectl)}
    floor = (CPU[mlcp] + SERVER_CPU[mlcp]) / cores
    server_floor = SERVER_CPU[mlcp] / cores
    print(
        f"CPU per object written (client + servers): mlcp {per_object[mlcp]:.2f} ms, kubectl "
        f"{per_object[kubectl]:.2f} ms. With all {cores} cores busy, mlcp's apply takes at least {floor:.1f} s "
        f"(at most {t_kubectl / floor:.2f}x this kubectl run); with a client that cost nothing, at least the "
        f"servers' {server_floor:.1f} s (at most {t_kubectl / server_floor:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32, help="mlcp apply's writes in flight")
    parser.add_argument("--use-kubeconfig", action="store_true", help="use $KUBECONFIG instead of a new local env")
    parser.add_argument("--skip-diff", action="store_true", help="compare the apply only (no kubectl diff)")
    args = parser.parse_args()
    from devenv import binaries

    kubectl = str(binaries.ensure_built().kubectl)
    with tempfile.TemporaryDirectory(prefix="mlcp-bench-") as tmp:
        if args.use_kubeconfig:
            bench(
                os.environ["KUBECONFIG"], kubectl, args.tenants, Path(tmp), args.concurrency, skip_diff=args.skip_diff
            )
            return
        from devenv import testing

        target = testing.start(workflows=False)  # Argo's controller would react to every tenant's objects
        if target.env is not None and target.env.kube is not None:
            SERVERS.update({p.name: p.pid for p in target.env.kube.processes if p.pid is not None})
        try:
            bench(str(target.kubeconfig), kubectl, args.tenants, Path(tmp), args.concurrency, skip_diff=args.skip_diff)
        finally:
            target.stop(keep_files=False)


if __name__ == "__main__":
    main()
