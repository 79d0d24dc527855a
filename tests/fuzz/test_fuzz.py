"""Hostile repos through `mlcp validate` and the loop's load: 2,000 seeded cases, no traceback, no leak.

`make fuzz` runs 10,000 (and a sample through real reconcile passes); this is
the share CI runs on every change. MLCP_FUZZ_CASES / MLCP_FUZZ_SEED change the
count and the first seed; a failure names its seed and how to rebuild it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.fuzz.runner import validate_case

CASES = int(os.environ.get("MLCP_FUZZ_CASES", "2000"))
SEED = int(os.environ.get("MLCP_FUZZ_SEED", "100000"))


def test_hostile_repos_never_crash_validate_or_leak_a_broken_tenant(tmp_path: Path) -> None:
    failures = []
    slowest = 0.0
    for seed in range(SEED, SEED + CASES):
        root = tmp_path / f"case-{seed}"
        outcome = validate_case(root, seed)
        slowest = max(slowest, outcome.seconds)
        if outcome.problem:
            failures.append(
                f"{outcome.case}\n{outcome.problem}\nreproduce: python -m tests.fuzz --seed {seed} --cases 1"
            )
        shutil.rmtree(root, ignore_errors=True)
    assert not failures, f"{len(failures)} of {CASES} cases failed:\n\n" + "\n\n".join(failures[:5])
    assert slowest < 30, f"the slowest case took {slowest:.1f}s"
