"""Unit tests for what stops a promotion: metric gates against the measured values, and the quarantine tag."""

from __future__ import annotations

import math

import pytest

from reconciler.backends.mlflow_gates import QUARANTINE_TAG, GateResult, evaluate_gates, gate_blocker, quarantine_tag

GATE = {"metric": "auc", "comparison": ">=", "threshold": 0.9}


@pytest.mark.parametrize(
    ("comparison", "measured", "passed"),
    [(">=", 0.9, True), (">=", 0.85, False), (">", 0.9, False), ("<=", 120.0, True), ("!=", 1.0, True)],
)
def test_gate_comparisons(comparison: str, measured: float, passed: bool) -> None:
    threshold = 120.0 if comparison == "<=" else 0.9
    assert GateResult("m", comparison, threshold, measured).passed is passed


def test_missing_and_nan_metrics_fail_their_gate() -> None:
    results = evaluate_gates([GATE, {"metric": "loss", "comparison": "<", "threshold": 1}], {"loss": math.nan})
    assert [r.passed for r in results] == [False, False]
    reason = gate_blocker(results) or ""
    assert "'auc' was not logged" in reason
    assert "loss < 1 failed: measured nan" in reason


def test_passing_gates_do_not_block() -> None:
    assert gate_blocker(evaluate_gates([GATE], {"auc": 0.95})) is None


def test_a_version_tagged_quarantined_gives_its_reason_and_an_empty_reason_still_quarantines() -> None:
    other = {"key": "owner", "value": "vision"}
    assert quarantine_tag({"tags": [other, {"key": QUARANTINE_TAG, "value": "CVE-2026-1"}]}) == "CVE-2026-1"
    assert quarantine_tag({"tags": [{"key": QUARANTINE_TAG, "value": ""}]}) == "no reason given"


@pytest.mark.parametrize("version", [{}, {"tags": None}, {"tags": [{"key": "mlcp.dev/quarantine", "value": "x"}]}])
def test_a_version_without_the_exact_tag_is_not_quarantined(version: dict[str, object]) -> None:
    assert quarantine_tag(version) is None
