"""From an applied plan to audit records: one record per outcome, whatever the outcome was.

Apply reports what happened (`applied`, `deleted`, `failed`, `skipped`); the
plan says what was intended (the change, its spec, its diff); the decisions say
whether it was allowed. This module joins the three without importing the
reconciler: an outcome is anything with `change`, `status` and `message`.

Digests are of the managed fields, the part of an object mlcp owns, so one
record's `after` equals the next record's `before` for the same object when
nobody else changed it. `before` is the live value of those fields (the desired
manifest with each differing field put back), None for a create and for a
delete (the plan does not carry the object being deleted); `after` is the
desired manifest once it was written, None when nothing was written or the
object is gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from controlplane.audit.records import DEFAULT_DECISION, AuditRecord, Result, Verdict, digest, utc_now
from controlplane.diffing import live_projection
from controlplane.plans import UNVERIFIED, Action, Change, Decision, ObjectRef, Plan, spec_text

_WROTE = {Result.applied}


class OutcomeLike(Protocol):
    """What apply reports per change (reconciler.backends.base.Outcome has this shape)."""

    @property
    def change(self) -> Change: ...

    @property
    def status(self) -> str: ...

    @property
    def message(self) -> str: ...


def _diff(change: Change) -> tuple[dict[str, Any], ...]:
    if change.action is Action.update:
        return tuple({"field": d.dotted, "old": d.old, "new": d.new} for d in change.diffs)
    if change.action is Action.create and change.desired is not None:
        return ({"field": "", "old": None, "new": change.desired},)
    return ()


def _result(status: str, decision: Decision) -> Result:
    """The backend status, except that a denied change that was not applied is `denied`.

    (With the policy not enforced, a denied change is applied: recorded as `applied` with decision `deny`.)
    """
    try:
        result = Result(str(status))
    except ValueError:
        return Result.failed
    return Result.denied if not decision.allowed and result is Result.skipped else result


def record_for(
    outcome: OutcomeLike,
    *,
    actors: Sequence[str],
    decision: Decision | None = None,
    commit: str | None = None,
    signer: str | None = None,
    time: str | None = None,
    result: Result | None = None,
    intent: int | None = None,
    desired_digest: str | None = None,
    signed: bool = False,
) -> AuditRecord:
    """The (unsealed) record of one outcome.

    The decision is `decision`, else the one the authorizer put on the change, else `DEFAULT_DECISION`; the
    actors are the decision's (the authors of the spec) when it names any, else `actors`. For a turn's
    journal: `result` replaces the outcome's (`pending` for an intent, whose `after` is what it is about to
    write), `intent` names the intent an outcome closes (which holds the diff), and `desired_digest` is
    `digest(change.desired)` when the caller has it already (an apply writes thousands: hashing each
    manifest once, not for the intent and again for the outcome, is a measurable part of its CPU).

    `signed`: the decisions' actors are verified signers (`Plan.verified_identities`); the record says which
    actors are (`verified`). `actors`, the fallback, is always a claim: a commit's author field.
    """
    change = outcome.change
    decision = decision or change.decision or DEFAULT_DECISION
    result = result or _result(outcome.status, decision)
    before = None
    if change.action is Action.update and change.desired is not None:
        before = digest(live_projection(change.desired, change.diffs))
    after = None
    if (result in _WROTE or result is Result.pending) and change.action is not Action.delete:
        after = desired_digest or digest(change.desired)
    return AuditRecord(
        time=time or utc_now(),
        actors=decision.actors or tuple(actors),
        verified=_verified(decision.actors) if signed else (),
        signer=signer,
        commit=commit,
        spec_path=change.source,
        spec=spec_text(change.spec),
        tenant=change.tenant,
        target=change.ref.to_dict(),
        action=change.action.value,
        decision=Verdict.allow if decision.allowed else Verdict.deny,
        rule=decision.rule,
        reason=_reason(change, decision, result),
        before=before,
        after=after,
        result=result,
        error=None
        if result in _WROTE or result is Result.deleted or result is Result.pending
        else (outcome.message or None),
        diff=_diff(change) if intent is None else (),
        intent=intent,
        **_promotion(change, decision),
    )


ALIAS_KIND = "ModelAlias"


def _verified(actors: tuple[str, ...]) -> tuple[str, ...]:
    """A decision's actors that a verified signature backs: all but the author fields it names beside them."""
    return tuple(a for a in actors if not a.endswith(UNVERIFIED))


def _reason(change: Change, decision: Decision, result: Result) -> str:
    """The decision's reason; for a write that moved a drifted object back, `drift healed:` and what drifted."""
    if change.drift and result in _WROTE:
        return f"drift healed: {change.drift}; {decision.reason}"
    return decision.reason


def _promotion(change: Change, decision: Decision) -> dict[str, Any]:
    """For a model alias move: the version, the approvals that counted and the measured gates (else nothing)."""
    want = change.desired
    if change.ref.kind != ALIAS_KIND or want is None or want.get("version") in (None, "None"):
        return {}
    gates = tuple(dict(g) for g in want.get("gates") or () if isinstance(g, dict))
    return {"version": str(want["version"]), "approvers": decision.approvers, "gates": gates}


def records_for(
    plan: Plan,
    outcomes: Iterable[OutcomeLike],
    *,
    actors: Sequence[str],
    decisions: Mapping[ObjectRef, Decision] | None = None,
    signer: str | None = None,
) -> list[AuditRecord]:
    """One record per outcome of applying `plan`, in the order apply reported them.

    `decisions` overrides, per object, the decision the authorizer put on its
    change; a change with neither gets `DEFAULT_DECISION` (allowed, rule
    `no-policy-yet`).
    """
    decisions = decisions or {}
    now = utc_now()
    return [
        record_for(
            outcome,
            actors=actors,
            decision=decisions.get(outcome.change.ref),
            commit=plan.revision,
            signer=signer,
            time=now,
            signed=plan.verified_identities,
        )
        for outcome in outcomes
    ]
