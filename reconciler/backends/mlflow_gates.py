"""What stops a version's promotion: a metric gate its source run fails, the quarantine tag on the version.

A ModelPromotion's gates ("auc >= 0.9") are judged against what the version's
run measured, and a version tagged `mlcp.dev/quarantined` is never promoted
(nor moved back to). These are verdicts on values already read from MLflow:
pure, kept apart from the reads and the alias moves (mlflow_promotion) so the
rule of what blocks a promotion reads on its own and is tested without a server.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
QUARANTINE_TAG = "mlcp.dev/quarantined"
"""A model-version tag that quarantines the version: any value (the reason) blocks every promotion to it.

It only ever refuses: anyone who may tag the version can stop it from being promoted, nobody can release a
version the policy quarantines by removing the tag (the policy's list is checked on its own)."""


def quarantine_tag(version: Mapping[str, Any]) -> str | None:
    """The reason a version's `mlcp.dev/quarantined` tag gives (None: not tagged)."""
    for tag in version.get("tags") or []:
        if tag.get("key") == QUARANTINE_TAG:
            return str(tag.get("value") or "no reason given")
    return None


@dataclass(frozen=True)
class GateResult:
    """One metric gate against the value measured on the version's source run (None: not logged)."""

    metric: str
    comparison: str
    threshold: float
    measured: float | None

    @property
    def passed(self) -> bool:
        if self.measured is None or math.isnan(self.measured):
            return False
        return COMPARISONS[self.comparison](self.measured, self.threshold)

    def describe(self) -> str:
        gate = f"{self.metric} {self.comparison} {self.threshold:g}"
        if self.measured is None:
            return f"gate {gate}: metric {self.metric!r} was not logged on the source run"
        return f"gate {gate} {'passed' if self.passed else 'failed'}: measured {self.measured:g}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "comparison": self.comparison,
            "threshold": self.threshold,
            "measured": self.measured,
            "passed": self.passed,
        }


def evaluate_gates(gates: list[dict[str, Any]], metrics: Mapping[str, float]) -> list[GateResult]:
    """Each declared gate against the run's (latest) metric values."""
    return [
        GateResult(str(g["metric"]), str(g["comparison"]), float(g["threshold"]), metrics.get(str(g["metric"])))
        for g in gates
    ]


def gate_blocker(results: list[GateResult]) -> str | None:
    failing = [r.describe() for r in results if not r.passed]
    return "; ".join(failing) if failing else None
