"""`python -m tests.fuzz`: hostile repos through `mlcp validate` at scale, and a sample through real reconcile passes.

    python -m tests.fuzz [--cases 10000] [--seed 0] [--passes 20]

Every case is built from its seed (`--seed N --cases 1` rebuilds case N and
keeps its repo). `--passes` runs that many committed cases (tenant folders
only) through one `mlcp reconcile --once` each against the real servers of
the local test environment (started here, or named by MLCP_TEST_KUBECONFIG /
MLCP_TEST_MLFLOW_URI). Prints `N cases, T tracebacks, C crashed passes` and
the slowest case; exits 1 when anything failed, naming the seeds.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz.hostile import scratch_dir
from tests.fuzz.runner import Outcome, Servers, reconcile_case, validate_case


def _validate(cases: int, seed: int, scratch: Path, keep: bool) -> list[Outcome]:
    outcomes = []
    began = time.monotonic()
    for index in range(cases):
        root = scratch / f"case-{seed + index}"
        outcome = validate_case(root, seed + index)
        outcomes.append(outcome)
        if outcome.problem:
            print(f"FAIL {outcome.case}\n{outcome.problem}\n", flush=True)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
        if (index + 1) % 1000 == 0:
            print(f"  {index + 1} cases in {time.monotonic() - began:.0f}s", flush=True)
    if keep:
        print(f"repo kept in {scratch}")
    return outcomes


def _passes(count: int, seed: int, scratch: Path) -> list[Outcome]:
    from devenv import install_signal_handlers, testing
    from tests.integration import configrepo

    install_signal_handlers()
    target = testing.start()
    outcomes: list[Outcome] = []
    try:
        servers = Servers(target.kubeconfig, target.mlflow_uri, target.admin_client())
        candidate = seed
        while len(outcomes) < count:
            work = scratch / f"pass-{candidate}"
            work.mkdir(parents=True)
            repo = configrepo.make(work, f"fz{candidate % 10**6}")
            outcome = reconcile_case(repo, candidate, servers, work)
            candidate += 1
            if outcome is None:
                continue
            outcomes.append(outcome)
            print(f"  pass {len(outcomes)}/{count}: {outcome.seconds:.1f}s {outcome.case}", flush=True)
            if outcome.problem:
                print(f"FAIL {outcome.case}\n{outcome.problem}\n", flush=True)
    finally:
        target.stop()
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="hostile repos through mlcp validate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first case")
    parser.add_argument("--passes", type=int, default=0, help="cases through one real reconcile pass each")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlcp-fuzz-", dir=scratch_dir()) as scratch:
        keep = args.cases == 1
        where = Path(tempfile.mkdtemp(prefix="mlcp-fuzz-case-")) if keep else Path(scratch)
        outcomes = _validate(args.cases, args.seed, where, keep)
        passes = _passes(args.passes, args.seed, Path(scratch)) if args.passes else []
    failed = [o for o in outcomes + passes if o.problem]
    tracebacks = sum(1 for o in failed if "Traceback (most recent call last)" in (o.problem or ""))
    crashed = sum(1 for o in passes if o.crashed_pass)
    broken = (
        len(failed) - tracebacks - sum(1 for o in failed if o.crashed_pass and "Traceback" not in (o.problem or ""))
    )
    summary = f"{len(outcomes) + len(passes)} cases, {tracebacks} tracebacks, {crashed} crashed passes"
    print(summary + (f", {broken} other broken promises" if broken else ""))
    slowest = max(outcomes, key=lambda o: o.seconds, default=None)
    if slowest is not None:
        print(f"slowest case: {slowest.seconds:.2f}s ({slowest.case})")
    for outcome in failed:
        again = "--cases 0 --passes 1" if outcome in passes else "--cases 1"
        first = (outcome.problem or "").splitlines()[0]
        print(f"reproduce: python -m tests.fuzz --seed {outcome.case.seed} {again}   # {first}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
