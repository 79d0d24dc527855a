"""The listing bound the benchmarks print: pages per kind, and the one extra LIST an exactly full last page may take."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import listbound


def test_pages_per_kind() -> None:
    assert listbound.pages(0, 10_000) == 1, "an empty or unserved kind still takes one LIST"
    assert listbound.pages(9_999, 10_000) == 1
    assert listbound.pages(10_000, 10_000) == 2, "a full page may come back with a continue token"
    assert listbound.pages(10_001, 10_000) == 2
    assert listbound.pages(40_000, 10_000) == 5


def test_the_bound_adds_the_inventory_read_and_counts_only_the_kinds_listed() -> None:
    counts = {("v1", "Namespace"): 10_000, ("v1", "ServiceAccount"): 20_000, ("v1", "Other"): 5}
    kinds = [("v1", "Namespace"), ("v1", "ServiceAccount"), ("v1", "ConfigMap")]
    assert listbound.list_bound(counts, kinds, 10_000) == 2 + 3 + 1 + 1
