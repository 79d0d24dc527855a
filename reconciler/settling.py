"""What an authorized plan writes: the fallbacks swapped in for changes that may not go ahead, and apply's last check.

Authorizing (reconciler.authorizing) decides each change; these two run after it, on the plan as a whole and
at the moment of each write, and need nothing of the rules: a decision is data on the change by then.
"""

from __future__ import annotations

from dataclasses import replace

from controlplane.plans import Action, Change, Plan


def settled(plan: Plan) -> Plan:
    """The plan to apply: a change that may not go ahead (blocked, denied, held, also through its serving) is
    replaced by its fallback, saying why; every other change drops its fallback.

    Runs after authorizing and coupling (reconciler.serving), so a fallback is never blocked for the serving of
    the change it replaces: an alias moved back to the version mlcp last set goes where the serving, held with
    the declared move, still points.
    """
    changes = []
    for change in plan.changes:
        fallback = change.fallback
        if fallback is None or not change.blocked or change.action is Action.noop:
            changes.append(replace(change, fallback=None) if fallback is not None else change)
            continue
        decision = fallback.decision
        if decision is not None:
            instead = f"instead of the declared change, which may not go ahead ({change.blocked})"
            decision = replace(decision, reason=f"{decision.reason}; {instead}")
        changes.append(replace(fallback, reason=f"{fallback.reason} ({change.blocked})", decision=decision))
    return replace(plan, changes=tuple(changes))


def decided(change: Change) -> str | None:
    """Apply's check (`apply_plan(authorize=decided)`): only a change the authorizer allowed is written.

    The plan's blocks already hold back denied changes; this refuses, at the moment of writing, any change
    that carries no allowing decision at all (a plan that skipped authorization, a change added after it).
    """
    if change.decision is None:
        return "not authorized: the plan carries no decision for this change"
    if not change.decision.allowed:
        return f"denied ({change.decision.rule}): {change.decision.reason}"
    return None
