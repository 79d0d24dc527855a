"""Benchmark: what a plan reads of a long git history, against git's own walk of it, in the same run.

A config repo lives for years. Generates one (devenv/tenantrepo.py's tenants, then `--commits` commits made
with `git fast-import`, each changing one tenant file: 80% among the first 5% of tenants, the rest among the
first half, so the upper half is never touched after its first commit, as old tenants are), then times:

* peer: `git log --name-only` over the whole history, what every plan ran before this benchmark;
* provenance (`gitsource.inspect`) of the recently changed tenants' files: it reads the log only until each is
  placed. Target: at most `RECENT` of the peer;
* provenance of every spec file, the untouched ones included (the walk then goes back to the first commit):
  not worse than the peer by more than `WHOLE`;
* attribution's last writers (`identity.History.last_writer`) of `--files` untouched tenant files, each in a
  history of its own (one whole walk per file, as before: the index is built only from the second file on) and
  all in one history (the index's build, then filtered walks). Target: a file's own cost in one history at most
  `PER_FILE` of a whole walk.

Usage:

    .venv/bin/python benchmarks/history.py [--tenants 1000] [--commits 50000] [--files 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import machine  # noqa: E402

from devenv import tenantrepo  # noqa: E402
from reconciler import commits, gitsource, identity  # noqa: E402

RECENT = 0.25
WHOLE = 1.5
PER_FILE = 0.2
T = TypeVar("T")


def generate(root: Path, tenants: int, commits: int) -> None:
    """`tenants` tenants in one commit, then `commits` commits of one tenant file each (dates a minute apart)."""
    tenantrepo.make_repo(root, "t", tenants, "mlcp-system")
    head = tenantrepo.git(root, "rev-parse", "HEAD")
    rng = random.Random(1)
    stream: list[str] = []
    when = 1_600_000_000
    for n in range(commits):
        i = rng.randrange(max(1, tenants // 20)) if rng.random() < 0.8 else rng.randrange(max(1, tenants // 2))
        name = tenantrepo.tenant_name("t", i)
        body = tenantrepo.TENANT.format(name=name, i=i) + f"# change {n}\n"
        message, when = f"change {n}", when + 60
        who = f"bench <{tenantrepo.ADMIN}> {when} +0000"
        stream.append(f"commit refs/heads/main\nauthor {who}\ncommitter {who}\ndata {len(message)}\n{message}\n")
        stream.append(f"from {head}\n" if n == 0 else "")
        stream.append(f"M 100644 inline tenants/{name}/tenant.yaml\ndata {len(body.encode())}\n{body}\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input="".join(stream).encode(), check=True)
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=root, check=True)


def timed(call: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def whole_log(root: Path) -> int:
    argv = ["git", "log", "--format=@%H", "-z", "--name-only", "--no-renames", "HEAD"]
    return len(subprocess.run(argv, cwd=root, capture_output=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=50_000)
    parser.add_argument("--files", type=int, default=5, help="untouched files whose last writers are asked")
    parser.add_argument("--keep", type=Path, help="generate into this (new) directory and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlcp-bench-") as scratch:
        root = args.keep or Path(scratch) / "repo"
        took, _ = timed(lambda: generate(root, args.tenants, args.commits))
        print(f"{args.tenants:,} tenants, {args.commits:,} commits on top (generated in {took:.1f}s)")
        failures = measure(root, args.tenants, args.files)
    print(machine.conditions())
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        raise SystemExit(1)


def measure(root: Path, tenants: int, count: int) -> list[str]:
    files = [f"tenants/{tenantrepo.tenant_name('t', i)}/tenant.yaml" for i in range(tenants)]
    recent = files[: max(1, tenants // 20)]
    untouched = files[-count:]
    head = tenantrepo.git(root, "rev-parse", "HEAD")
    peer, _ = timed(lambda: whole_log(root))
    hot, placed = timed(lambda: gitsource.inspect(root, recent))
    every, _ = timed(lambda: gitsource.inspect(root, files))
    assert len(placed.commits) == len(recent)

    def one_each() -> list[list[commits.Commit]]:
        return [_history(root, head).last_writer(path) for path in untouched]

    def shared() -> tuple[list[list[commits.Commit]], float]:
        history = _history(root, head)
        history.last_writer(untouched[0])
        history.last_writer(untouched[1 % len(untouched)])  # builds the index
        each, _ = timed(lambda: [history.last_writer(path) for path in untouched[2:]])
        return [history.last_writer(path) for path in untouched], each / max(1, len(untouched) - 2)

    walked, alone = timed(one_each)
    indexed, (together, per_file) = timed(shared)
    assert [[c.sha for c in w] for w in alone] == [[c.sha for c in w] for w in together], "the same last writers"
    walk = walked / len(untouched)
    print(f"{'peer: git log --name-only, whole history':58} {peer:7.2f}s")
    print(f"{f'provenance of the {len(recent)} recently changed tenants':58} {hot:7.2f}s  {hot / peer:.2f}x peer")
    every_label = f"provenance of all {len(files)} tenants (untouched ones too)"
    print(f"{every_label:58} {every:7.2f}s  {every / peer:.2f}x peer")
    walked_label = f"last writers of {len(untouched)} untouched files, a history each"
    print(f"{walked_label:58} {walked:7.2f}s  {walk:.2f}s a file")
    print(
        f"{f'last writers of {len(untouched)} untouched files, one history':58} {indexed:7.2f}s  "
        f"{per_file:.2f}s a file once indexed ({per_file / walk:.2f}x a whole walk)"
    )
    failures = []
    if hot > RECENT * peer:
        failures.append(
            f"provenance of recently changed files took {hot / peer:.2f}x git's whole walk (target {RECENT}x): the log "
            "is read further back than their last changes (or the history is too short for its walk to outweigh "
            "starting git: measure at --commits 50000)"
        )
    if every > WHOLE * peer:
        failures.append(
            f"provenance of every file took {every / peer:.2f}x git's whole walk (target {WHOLE}x): reading the log "
            "costs more than git writing it"
        )
    if per_file > PER_FILE * walk:
        failures.append(
            f"a file's last writers in an indexed history took {per_file / walk:.2f}x a whole walk (target "
            f"{PER_FILE}x): git does not read the changed-path index (reconciler/pathindex.py), or the history is too "
            "short for a walk to outweigh starting git (measure at --commits 50000)"
        )
    return failures


def _history(root: Path, head: str) -> identity.History:
    history = identity.open_history(root, head, head, False, None)
    assert history is not None
    return history


if __name__ == "__main__":
    main()
