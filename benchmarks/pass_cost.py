"""The CPU cost of the loop's passes at scale, without a cluster: where a no-op pass and a one-tenant commit go.

Builds N tenants (as benchmarks/plan_apply.py: 9 objects each) in a config repo and runs the loop's
`Reconciler` with its real Kubernetes backend (inventory, namespace claims), its per-tenant state and
audit anchor on an in-memory client (tests/reconciler/memkube.py) and a synced watch cache. After the
first (full) pass it times, in CPU seconds of this process:
  * no-op passes (nothing changed: the watch cache saw nothing, no commit);
  * a commit that changes one tenant's member role (an update of its RoleBindings);
  * a commit that adds a member to one tenant (a create: the inventory is recorded before the write);
  * the pass after them, judged by the revision just applied (the next trusted base), and a no-op pass;
and with --profile, prints the top of a cProfile of each. Not the reconcile benchmark (no API server, no
webhook, no network): it shows the work a pass does in this process, which is what grows with N.

Usage: .venv/bin/python benchmarks/pass_cost.py [--tenants 10000] [--profile] [--top 30] [--work DIR] [--default-gc]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

NAMESPACE = "mlcp-bench-passcost"


def _reconciler(repo: Path, work: Path) -> Any:
    from controlplane.audit import JsonlStore
    from devenv.tenantrepo import git
    from reconciler import engine
    from reconciler.backends.kubernetes import KubernetesBackend
    from reconciler.backends.kubernetes_client import KubeClient
    from reconciler.gitsync import GitSource
    from reconciler.passes import Reconciler, Settings
    from tests.reconciler.memkube import MemoryKube

    kube = MemoryKube(NAMESPACE)
    KubeClient.connect = classmethod(lambda _cls, _targets: kube)  # type: ignore[method-assign,assignment]

    def watch(backend: KubernetesBackend) -> Any:
        backend.cache = kube.cache()
        return backend.cache

    KubernetesBackend.watch = watch  # type: ignore[method-assign]
    targets = engine.Targets(
        "/nonexistent", controller_namespace=NAMESPACE, trusted_base=git(repo, "rev-parse", "HEAD")
    )
    settings = Settings(targets, concurrency=16, events=False, watch=True, resync=1e9)
    return Reconciler(GitSource(str(repo), "main", work / "clone"), settings, JsonlStore(work / "audit.jsonl"))


def _measure(name: str, run: Callable[[], Any], profile: bool, top: int) -> Any:
    profiler = cProfile.Profile() if profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = run()
    if profiler is not None:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    error = f" error={result.error}" if result.error else ""
    error += f" failed={dict(list(result.failed.items())[:2])}" if result.failed else ""
    print(
        f"{name:<40} cpu {cpu:6.2f}s  wall {wall:6.2f}s  writes {len(result.outcomes):>5}  "
        f"planned {result.planned:>6}  requests {result.requests:>3}{error}",
        flush=True,
    )
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
        print(out.getvalue())
    return result


def bench(tenants: int, work: Path, profile: bool, top: int) -> None:
    from devenv.tenantrepo import git, make_repo, tenant_name

    repo = work / "repo"
    if not repo.exists():
        make_repo(repo, "pc", tenants, NAMESPACE)
    rec = _reconciler(repo, work)
    _measure("first pass (full, every write)", rec.run_pass, False, top)
    for i in range(2):
        _measure(f"no-op pass {i + 1}", rec.run_pass, profile and i == 1, top)
    tenant = repo / "tenants" / tenant_name("pc", 0) / "tenant.yaml"
    text = tenant.read_text()  # a kept --work repo has the last run's commits: each run changes it again
    tenant.write_text(
        text.replace("role: edit", "role: view") if "role: edit" in text else text.replace("role: view", "role: edit")
    )
    git(repo, "commit", "-qam", "one tenant: a member's role")
    _measure("commit: one tenant's update", rec.run_pass, profile, top)
    tenant = repo / "tenants" / tenant_name("pc", 1) / "tenant.yaml"
    text = tenant.read_text()
    tenant.write_text(text + f"    - name: new-{text.count('new-') + 1}@example.com\n      role: edit\n")
    git(repo, "commit", "-qam", "one tenant: a new member")
    _measure("commit: one tenant's create", rec.run_pass, profile, top)
    _measure("pass after the commits (next base)", rec.run_pass, profile, top)
    _measure("no-op pass", rec.run_pass, False, top)
    rec.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--work", type=Path, help="keep the repo here (reused when it exists)")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep Python's default collector thresholds (figures before session 7's last ones did); by default "
        "the thresholds are `mlcp reconcile`'s, as the controller runs",
    )
    args = parser.parse_args()
    if not args.default_gc:
        from controlplane.cli import GC_THRESHOLD

        gc.set_threshold(*GC_THRESHOLD)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        bench(args.tenants, args.work, args.profile, args.top)
        return
    with tempfile.TemporaryDirectory(prefix="mlcp-passcost-") as tmp:
        bench(args.tenants, Path(tmp), args.profile, args.top)


if __name__ == "__main__":
    main()
