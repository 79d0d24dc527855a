"""Where a no-op `mlcp plan`'s bytes go, at N tenants, measured with tracemalloc.

Builds N tenants with `devenv.tenantrepo.make_repo` (9 objects each), applies them
with `mlcp apply`, then runs the plan's steps (as `engine.plan_path` does) in
a fresh child process under tracemalloc and prints the traced memory after
each step (live state read, repo loaded, desired objects rendered, plan
made), the peak, the bytes held by what each step built (a deep size: every
object reachable from it and not from the steps before), and the lines that
allocated the most of what is held at the end. It also prints the child's own
peak RSS (plan_apply.timed) for `mlcp apply` and for an untraced
`mlcp plan`, the figures `benchmarks/plan_apply.py` compares with its targets.
No kubectl peer: this is the memory-only run. Not a test: nothing is asserted.

Usage: .venv/bin/python benchmarks/memory.py [--tenants 1000] [--top 20] [--use-kubeconfig]
       .venv/bin/python benchmarks/memory.py --trace REPO   (the traced child; needs $KUBECONFIG)
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MB = 1024 * 1024
NAMESPACE = "mlcp-bench-memory"


def deep_size(roots: Iterable[Any], seen: set[int]) -> int:
    """Bytes of every object reachable from `roots` not already in `seen` (which grows): a shared object counts
    once, for the first step that holds it. Modules, types and functions are not followed."""
    total = 0
    stack = list(roots)
    skip = (type, type(sys), type(deep_size))
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def managed_fields_size(states: dict[str, Any]) -> tuple[int, int]:
    """(objects carrying managedFields, bytes of those managedFields) in the live state."""
    seen: set[int] = set()
    count, size = 0, 0
    for state in states.values():
        for obj in state.objects.values():
            fields = (obj.manifest.get("metadata") or {}).get("managedFields")
            if fields is not None:
                count += 1
                size += deep_size([fields], seen)
    return count, size


def trace(repo: Path, top: int) -> None:
    """The traced child: plan_path's steps, one at a time, with tracemalloc."""
    from controlplane.cli import GC_THRESHOLD
    from controlplane.loading import memo
    from controlplane.loading.repo import load_config
    from reconciler import connecting, engine

    gc.set_threshold(*GC_THRESHOLD)
    targets = engine.Targets(os.environ["KUBECONFIG"], controller_namespace=NAMESPACE)
    tracemalloc.start(1)
    base = tracemalloc.get_traced_memory()[0]
    steps: list[tuple[str, float, list[Any]]] = []

    def step(name: str, began: float, *held: Any) -> None:
        steps.append((name, time.perf_counter() - began, list(held)))
        now, peak = tracemalloc.get_traced_memory()
        print(f"  after {name:28} traced {(now - base) / MB:8.1f} MB   peak so far {(peak - base) / MB:8.1f} MB")

    began = time.perf_counter()
    head = load_config(repo)
    backends = connecting.connect(head, targets)
    step("connect", began, backends)
    began = time.perf_counter()
    read = connecting.read_live(backends)
    step("read live state", began, read)
    with memo.shared():
        began = time.perf_counter()
        loaded = engine.load_valid(repo)
        connecting.confine(backends, loaded)
        step("load + validate repo", began, loaded)
        began = time.perf_counter()
        desired = engine.render_desired(loaded)
        step("render desired objects", began, desired)
        began = time.perf_counter()
        planned, states = engine.make_plan(desired, backends, already_read=read, targets=targets)
        step("plan (trusted base, diff)", began, planned, states)
    snapshot = tracemalloc.take_snapshot()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    changes = len(planned.changes)
    print(f"  {changes} changes, {sum(c.action.value not in ('noop', 'no-op') for c in planned.changes)} not no-ops")
    print(f"  peak traced: {(peak - base) / MB:.1f} MB")

    print("\nheld at the end, by the step that first holds it (deep size):")
    seen: set[int] = set()
    for name, seconds, held in steps:
        print(f"  {name:30} {deep_size(held, seen) / MB:8.1f} MB   ({seconds:.2f} s)")
    count, size = managed_fields_size(read[0])
    print(f"  of the live state: managedFields of {count} objects {size / MB:.1f} MB")

    print(f"\ntop {top} allocating lines of what is held at the end:")
    for stat in snapshot.statistics("lineno")[:top]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).relative_to(ROOT) if ROOT in Path(frame.filename).parents else frame.filename}"
        print(f"  {stat.size / MB:8.1f} MB {stat.count:9d} blocks  {where}:{frame.lineno}")


def bench(kubeconfig: str, tenants: int, top: int, work: Path) -> None:
    import subprocess

    from plan_apply import head, timed

    from devenv.tenantrepo import make_repo

    env = {
        **os.environ,
        "KUBECONFIG": kubeconfig,
        "MLCP_CONTROLLER_NAMESPACE": NAMESPACE,
        "MLCP_AUDIT_LOG": str(work / "audit.jsonl"),
    }
    repo = work / f"repo-{tenants}"
    mlcp = [sys.executable, "-m", "controlplane"]
    if repo.exists():
        print(f"{tenants} tenants: reusing {repo} (applied by an earlier run)")
    else:
        make_repo(repo, "mm", tenants, NAMESPACE)
        seconds, rss, _, _ = timed(
            [*mlcp, "apply", str(repo), "--yes", "--concurrency", "32"], {**env, "MLCP_TRUSTED_BASE": head(repo)}
        )
        print(f"{tenants} tenants: first mlcp apply {seconds:.1f} s, peak RSS {rss:.0f} MB")
    seconds, rss, _, code = timed([*mlcp, "plan", str(repo), "-o", "json", "--detailed-exitcode"], env)
    print(f"no-op mlcp plan: {seconds:.1f} s, peak RSS {rss:.0f} MB, exit {code}")
    print("traced no-op plan (tracemalloc slows it; its figures are Python's allocations, not RSS):")
    sys.stdout.flush()
    subprocess.run([sys.executable, __file__, "--trace", str(repo), "--top", str(top)], env=env, check=True)
    import machine

    print(machine.conditions())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--top", type=int, default=20, help="allocating lines to print")
    parser.add_argument("--use-kubeconfig", action="store_true", help="use $KUBECONFIG instead of a new local env")
    parser.add_argument(
        "--work", type=Path, help="keep the applied repo here and reuse it next time (with --use-kubeconfig)"
    )
    parser.add_argument("--trace", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trace:
        trace(args.trace, args.top)
        return
    if args.work and args.use_kubeconfig:
        args.work.mkdir(parents=True, exist_ok=True)
        bench(os.environ["KUBECONFIG"], args.tenants, args.top, args.work)
        return
    with tempfile.TemporaryDirectory(prefix="mlcp-bench-") as tmp:
        if args.use_kubeconfig:
            bench(os.environ["KUBECONFIG"], args.tenants, args.top, Path(tmp))
            return
        from devenv import testing

        target = testing.start(workflows=False)
        try:
            bench(str(target.kubeconfig), args.tenants, args.top, Path(tmp))
        finally:
            target.stop(keep_files=False)


if __name__ == "__main__":
    main()
