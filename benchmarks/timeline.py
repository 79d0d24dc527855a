"""Where a commit→converged round goes, step by step, against the real API server.

Seeds N tenants once (as benchmarks/reconcile.py: 9 objects each) with the loop's reconciler and its watch
cache, then times many one-tenant rounds through the loop and its signed webhook, as benchmarks/reconcile.py
does (a round ends when the pass that wrote its tenant has finished), and prints each round's timeline: the
webhook, git (each command), load, connect, the live read and selection, the plan, authorization, the audit
intent, apply with each API request, events, judging, the revisions and the audit's end. Measures in the
reconciler's own process (the steps are wrapped, nothing else changes). Not the benchmark of record: that is
benchmarks/reconcile.py; this one says where its rounds go.

Usage: .venv/bin/python benchmarks/timeline.py [--tenants 1000] [--rounds 10] [--use-kubeconfig]
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

Span = tuple[str, float, float, str]
"""(step, start, end, thread name)."""


class Recorder:
    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.on = False
        self._lock = threading.Lock()

    def add(self, label: str, start: float, end: float) -> None:
        if self.on:
            with self._lock:
                self.spans.append((label, start, end, threading.current_thread().name))

    def wrap(self, owner: Any, attr: str, label: str | Callable[..., str]) -> None:
        original = getattr(owner, attr)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                name = label(*args, **kwargs) if callable(label) else label
                self.add(name, start, time.perf_counter())

        setattr(owner, attr, timed)

    @contextmanager
    def round(self) -> Iterator[list[Span]]:
        with self._lock:
            self.spans = []
        self.on = True
        taken: list[Span] = []
        try:
            yield taken
        finally:
            self.on = False
            with self._lock:
                taken.extend(self.spans)


def instrument(recorder: Recorder) -> None:
    import git

    from reconciler import (
        basechoice,
        connecting,
        desiredcache,
        engine,
        events,
        gitsync,
        judging,
        passaudit,
        passbackends,
        passes,
        passmemory,
        passwrites,
        state,
        verdicts,
    )
    from reconciler.backends.kubernetes_client import KubeClient
    from reconciler.loop import Loop

    wrap = recorder.wrap
    wrap(Loop, "request_pass", "webhook: pass requested")
    wrap(passes.Reconciler, "run_pass", "PASS")
    wrap(gitsync.GitSource, "sync", "git sync")
    wrap(git.cmd.Git, "execute", lambda _self, command, *_a, **_k: "  git " + " ".join(command[1:3]))
    wrap(desiredcache.DesiredCache, "load", "load")
    wrap(passbackends.PassBackends, "connect", "connect")
    wrap(state.StateStore, "read", "revisions: read")
    wrap(passmemory.PassMemory, "select", "select (live read, changes)")
    wrap(connecting, "read_live", "  read_live")
    wrap(basechoice, "load_trusted", "  load_trusted")
    wrap(engine, "make_plan", "plan")
    wrap(judging.Judging, "authorize", "authorize")
    wrap(passaudit.PassAudit, "begin", "audit: begin (intent)")
    wrap(passwrites, "apply_fenced", "apply")
    wrap(events, "publish", "events")
    wrap(verdicts, "judge", "judge")
    wrap(passmemory.PassMemory, "converged", "converged set")
    wrap(passwrites, "save_state", "revisions: save")
    wrap(passaudit.PassAudit, "finish", "audit: finish")

    collecting: dict[str, float] = {}

    def collected(phase: str, info: dict[str, int]) -> None:  # the collector's pauses, by generation
        if phase == "start":
            collecting["at"] = time.perf_counter()
        elif "at" in collecting:
            recorder.add(f"  gc generation {info['generation']}", collecting.pop("at"), time.perf_counter())

    gc.callbacks.append(collected)

    def request_label(_self: Any, method: str, path: str, *_a: Any, **_k: Any) -> str:
        return f"    {method} {path[:90]}"

    wrap(KubeClient, "request", request_label)


def report(spans: list[Span], start: float, end: float) -> None:
    print(f"  {'step':<70} {'start ms':>9} {'dur ms':>8}  thread")
    for label, s, e, thread in sorted(spans, key=lambda x: x[1]):
        print(f"  {label:<70} {(s - start) * 1000:9.1f} {(e - s) * 1000:8.1f}  {thread[:18]}")
    print(f"  {'round end':<70} {(end - start) * 1000:9.1f}")


def bench(kubeconfig: str, tenants: int, rounds: int, work: Path, verbose: int, first: int = 0) -> None:
    import reconcile

    from devenv.tenantrepo import make_repo

    os.environ["KUBECONFIG"] = kubeconfig
    repo = work / "repo"
    if not repo.exists():  # a kept --work repo (and cluster, --use-kubeconfig) is seeded already
        make_repo(repo, "rb", tenants, reconcile.NAMESPACE)
    rec = reconcile._reconciler(repo, work, "loop", watch=True)
    began = time.perf_counter()
    seeded = rec.run_pass()
    print(f"{tenants} tenants: first pass {time.perf_counter() - began:.1f}s, {len(seeded.outcomes)} writes")
    assert all(w.wait_synced(600) for w in rec.watches), "the watch cache did not sync"  # type: ignore[attr-defined]
    second = rec.run_pass()
    print(f"second pass: {second.duration:.2f}s, {second.requests} requests", flush=True)
    recorder = Recorder()
    instrument(recorder)
    latencies = rounds_of(rec, repo, rounds, recorder, verbose, first)
    print(f"rounds (s): {', '.join(f'{x:.2f}' for x in latencies)}")
    print(f"median {statistics.median(latencies):.2f}s, worst {max(latencies):.2f}s")


def rounds_of(rec: Any, repo: Path, rounds: int, recorder: Recorder, verbose: int, first: int) -> list[float]:
    """benchmarks/reconcile.py's `_commits`, with each round's steps recorded."""
    import reconcile

    webhook = reconcile.WebhookLoop(rec)
    webhook.start()
    latencies = []
    for i in range(first, first + rounds):
        tenant = repo / "tenants" / f"rb{i:05d}" / "tenant.yaml"
        text = tenant.read_text()  # a kept --work repo has the last run's commits: each run changes it again
        swapped = ("role: edit", "role: view") if "role: edit" in text else ("role: view", "role: edit")
        tenant.write_text(text.replace(*swapped))
        reconcile._git(repo, "commit", "-qam", f"change {i}")
        with recorder.round() as spans:
            start, end = webhook.round(f"rb{i:05d}", f"change {i}")
        latencies.append(end - start)
        print(f"round {i}: {end - start:.3f}s", flush=True)
        if i - first < verbose:
            report(spans, start, end)
    webhook.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--verbose", type=int, default=3, help="print the timeline of the first VERBOSE rounds")
    parser.add_argument(
        "--first",
        type=int,
        default=0,
        help="the first tenant a round changes (a kept --work repo: "
        "past the last run's, whose changes a commit back would not write again with prune off)",
    )
    parser.add_argument("--work", type=Path, help="keep the repo and the clone here (reused when they exist)")
    parser.add_argument("--use-kubeconfig", action="store_true", help="use $KUBECONFIG instead of a new local env")
    args = parser.parse_args()
    from controlplane.cli import GC_THRESHOLD

    gc.set_threshold(*GC_THRESHOLD)
    from devenv.environment import Environment

    if args.work and args.use_kubeconfig:
        args.work.mkdir(parents=True, exist_ok=True)
        bench(os.environ["KUBECONFIG"], args.tenants, args.rounds, args.work, args.verbose, args.first)
        return
    with tempfile.TemporaryDirectory(prefix="mlcp-timeline-") as tmp:
        if args.use_kubeconfig:
            bench(os.environ["KUBECONFIG"], args.tenants, args.rounds, Path(tmp), args.verbose)
            return
        with Environment(mlflow=False, workflows=False) as env:
            bench(str(env.kubeconfig), args.tenants, args.rounds, Path(tmp), args.verbose)


if __name__ == "__main__":
    main()
