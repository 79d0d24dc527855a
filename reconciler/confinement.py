"""The plan says what apply would refuse before sending anything, in apply's own words.

A backend refuses some writes from its trusted inputs alone, after authorizing: the Kubernetes backend writes a
tenant's platform objects with mlcp's own identity only in the namespace the trusted base and the allowed Tenant
changes give that tenant, binds only its trusted people, and deletes a tenant's workloads only as the deployer of
a namespace they give it (reconciler.impersonation). Apply refused those, but the plan showed the change as
allowed, or as denied for another reason, without saying that the layer beneath would refuse it too, or why.
So after `entrust`, each change a backend would refuse is blocked with that backend's `refusal`, the text apply
fails it with, and the plan (text and JSON) and the audit record of the skip show it. Pure: a plan in, a plan out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from controlplane.plans import Action, Plan
from reconciler.backends.base import Backend


def confined(plan: Plan, backends: Mapping[str, Backend]) -> Plan:
    """`plan` with every change a backend refuses (`Backend.refusal`) blocked, its refusal after any block it had."""
    changes = list(plan.changes)
    blocked = False
    for i, change in enumerate(changes):
        backend = backends.get(change.ref.system)
        if backend is None or change.action is Action.noop:
            continue
        refused = backend.refusal(change)
        if refused is None or (change.blocked is not None and refused in change.blocked):
            continue
        changes[i] = replace(change, blocked=f"{change.blocked}; {refused}" if change.blocked else refused)
        blocked = True
    return replace(plan, changes=tuple(changes)) if blocked else plan
