"""What a finished pass reports of itself: its counts into the metrics and one log line, in its lane's context.

Every pass ends the same way whatever happened in it (failed at fetch, set tenants aside, converged), and the
operator reads the loop through exactly this: the `pass done` or `pass failed` line with its revision and shard,
a warning first when mlcp's own records are damaged, and the metrics (verdicts.observe). Kept apart from the
pass's steps (reconciler.passes) so what is reported, and under which names, reads in one place.
"""

from __future__ import annotations

from reconciler import logs, verdicts
from reconciler.metrics import Metrics
from reconciler.selection import Selection
from reconciler.verdicts import PassResult


def report(result: PassResult, metrics: Metrics, shard: str, backing_off: int) -> None:
    """The pass's metrics and its log line; `shard` is "" for an unsharded pass, `backing_off` the tenants that are."""
    log = logs.get()
    with logs.context(revision=result.revision or "", shard=shard or None):
        verdicts.observe(metrics, result, shard, backing_off)
        if result.record_problems:
            log.warning("mlcp's own records are damaged", extra={"problems": list(result.record_problems)})
        if result.error:
            log.error("pass failed", extra={"stage": result.stage, "error": result.error})
        else:
            log.info(
                "pass done",
                extra={
                    "converged": result.converged,
                    "changes": len(result.outcomes),
                    "failedTenants": sorted(result.failed),
                    "heldTenants": len(result.held),
                    "seconds": round(result.duration, 3),
                    "requests": result.requests,
                    "tenants": describe(result.selection),
                    "planned": result.planned,
                },
            )


def describe(selection: Selection | None) -> str | int:
    """The tenants a pass planned, for its log line: "all", how many, or "" (it failed before it selected)."""
    if selection is None:
        return ""
    return "all" if selection.tenants is None else len(selection.tenants)
