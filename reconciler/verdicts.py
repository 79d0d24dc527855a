"""What a pass's outcomes say about each tenant, and what the pass reports of itself.

After apply, the pass (reconciler.passes) asks: which tenants failed (they back off), which recovered, which
vanished while backing off (forgotten), whether a wave of failures was really the API server going away (the
loop's failure, not the tenants'), and what to count in the metrics. These are verdicts on outcomes already
collected: kept apart from the pass's steps so each reads on its own, and so the rule of what leaves a tenant
unconverged lives in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from controlplane.errors import Diagnostic
from controlplane.planning import PROVENANCE
from controlplane.plans import Action, Change, Plan
from reconciler import governance, logs, partition
from reconciler.authorizing import RESTORE_RULE
from reconciler.backends.base import BackendError, Outcome, Status
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backoff import Tracker
from reconciler.fencing import was_attempted
from reconciler.metrics import Metrics
from reconciler.selection import Selection

INVALID_RULE = "invalid-specs"
RECORDS_RULE = "record-store"
"""The audit rule of a problem found in mlcp's own records: a record store refused (others may write it) or
ignored, an inventory piece damaged."""


@dataclass
class PassResult:
    revision: str | None = None
    error: str | None = None
    """Why the whole pass failed (git, global config, API server), or None."""
    stage: str = ""
    outcomes: list[Outcome] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Tenants that failed in this pass, and why."""
    held: dict[str, str] = field(default_factory=dict)
    recovered: set[str] = field(default_factory=set)
    abandoned: int = 0
    requests: int = 0
    duration: float = 0.0
    selection: Selection | None = None
    """The tenants this pass planned."""
    planned: int = 0
    """How many objects it planned (every system's, governance included)."""
    record_problems: tuple[str, ...] | None = None
    """What the backends found wrong with mlcp's own records (tamper evidence), logged and counted every pass;
    None when the pass did not get as far as reading them."""

    @property
    def converged(self) -> bool:
        return self.error is None and not self.failed and not self.held and not self.abandoned


@dataclass(frozen=True)
class Share:
    """Which tenants a lane's verdicts are about: those it covers, and the platform's objects if it has them."""

    covers: Callable[[str], bool]
    platform: bool


def judge(
    plan: Plan,
    result: PassResult,
    unreachable: Sequence[str],
    kube: KubeClient,
    tracker: Tracker,
    now: float,
    share: Share,
    parts: partition.Partitioned,
) -> None:
    """Which tenants failed, recovered or vanished, into `result` and the backoff `tracker`; an unreachable API
    server is the loop's failure, not the tenants'."""
    failures: dict[str, str] = {}
    for outcome in result.outcomes:
        if not was_attempted(outcome):
            result.abandoned += 1
        elif (failure := unconverged(outcome)) is not None:
            failures.setdefault(partition.key_of(outcome.change), failure)
    if failures and not _reachable(kube):
        result.error, result.stage = "the Kubernetes API server became unreachable during apply", "apply"
        return
    for key, reason in failures.items():
        result.failed[key] = reason
        tracker.failed(key, reason, plan.revision, now)
        with logs.context(tenant=key):
            logs.get().warning("tenant failed; backing off", extra={"reason": reason})
    if unreachable:
        result.error, result.stage = "unreachable: " + "; ".join(unreachable), "plan"
    # only the lane of a tenant says it recovered: the platform lane plans every tenant's people, and a no-op there
    # would end the backoff of a tenant whose own lane just failed it
    converged = {key for key in keys(plan, share.platform) if share.covers(key)}
    for key in converged:
        if key not in result.failed and key not in result.held and tracker.succeeded(key):
            result.recovered.add(key)
            with logs.context(tenant=key):
                logs.get().info("tenant recovered")
    present = {spec.tenant or partition.PLATFORM for spec in parts.desired.repo.specs} | set(parts.broken)
    _forget_vanished(tracker, share, present | converged)


def _forget_vanished(tracker: Tracker, share: Share, present: set[str]) -> None:
    """A tenant backing off that no longer exists (its folder removed, nothing of it left to prune) is
    forgotten: nothing will ever succeed for it, so its entry would stay in the gauge for good."""
    tracker.forget([key for key in tracker.entries if share.covers(key) and key not in present])


def unconverged(outcome: Outcome) -> str | None:
    """Why an attempted change leaves its tenant short of git (None: it does not).

    A move back to the version mlcp last set (rule `restore`) is written, yet it stands in for a declared
    change that may not go ahead: the tenant is not converged, as for the denial it replaced.
    """
    change = outcome.change
    if outcome.status is Status.failed:
        return f"{change.ref}: {outcome.message}"
    if change.decision is not None and not change.decision.allowed:
        return f"denied: {outcome.message}"
    if change.decision is not None and change.decision.rule == RESTORE_RULE:
        return f"{change.ref}: {change.reason}"
    return None


def set_aside_broken(
    broken: Mapping[str, Sequence[Diagnostic]], result: PassResult, tracker: Tracker, revision: str, now: float
) -> None:
    """Tenants set aside for invalid specs: failed in `result`, backing off in `tracker`, named in the logs (and,
    by the pass, in the audit log), never in the metrics (metrics.py)."""
    for tenant, problems in broken.items():
        reason = f"{len(problems)} problem(s) in its specs: " + "; ".join(d.render() for d in problems[:3])
        result.failed[tenant] = reason
        tracker.failed(tenant, reason, revision, now)
        with logs.context(tenant=tenant):
            logs.get().warning("tenant set aside; backing off", extra={"reason": reason})


def set_aside(tenant: str, problems: Sequence[Diagnostic]) -> Outcome:
    """The denial of a tenant set aside for invalid specs, as an outcome the audit log records."""
    shown = "; ".join(d.render().replace("\n", " ") for d in problems[:3])
    reason = f"tenant {tenant!r} set aside: {len(problems)} problem(s) in its specs: {shown}"
    return governance.refusal(INVALID_RULE, reason, problems[0].path if problems else None, tenant)


def untrusted_records(problems: Sequence[str]) -> list[Outcome]:
    """Each problem in mlcp's own records (`Backend.record_problems`) as an outcome the audit log records like a
    denial (target `Refusal/records`, rule `record-store`), once per revision: what mlcp did not read as its
    records decides what it plans and writes, so a reviewer of `mlcp audit` must see it, not only the plan's
    error and a metric."""
    return [governance.refusal(RECORDS_RULE, problem, None, name="records") for problem in problems]


def observe(metrics: Metrics, result: PassResult, shard: str, backing_off: int) -> None:
    """The pass's counts into the metrics; `shard` is "" for an unsharded pass."""
    m = metrics
    if shard:
        m.shard_duration.labels(shard).observe(result.duration)
    outcome = "error" if result.error else ("converged" if result.converged else "partial")
    m.passes.labels(outcome).inc()
    m.duration.observe(result.duration)
    m.requests.set(result.requests)
    if result.record_problems is not None:
        m.record_problems.set(len(result.record_problems))
    if result.error:
        m.errors.labels(result.stage).inc()
    if result.failed:
        m.errors.labels("tenant").inc(len(result.failed))  # counted, never named (metrics.py)
    for o in result.outcomes:
        if not was_attempted(o):
            continue
        denied = o.change.decision is not None and not o.change.decision.allowed
        m.objects.labels(o.change.action.value, "denied" if denied else o.status.value).inc()
        m.denials.inc(1 if denied and o.status is Status.skipped else 0)
        if o.status is Status.applied and _is_drift(o.change):
            m.drift.inc()
    m.backing_off.set(backing_off)
    if result.converged:
        m.last_success.set(time.time())


def keys(plan: Plan, platform: bool) -> set[str]:
    """The tenants ("" for objects of no tenant) a lane's pass converged or failed."""
    return partition.keys(plan.changes) | ({partition.PLATFORM} if platform else set())


def _is_drift(change: Change) -> bool:
    """An update whose spec did not change (no new source commit): someone changed the live object."""
    return change.action is Action.update and all(d.path != PROVENANCE for d in change.diffs)


def _reachable(kube: KubeClient) -> bool:
    try:
        kube.request("GET", "/version")
    except BackendError:
        return False
    return True
