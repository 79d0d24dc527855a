"""Whether a revision becomes the next trusted base: every governance change of its plan allowed and applied.

A change to the rules is judged by the base's policy like any other change, and becomes the judge only when the
revision is recorded as applied. A denied change to the rules must never become the next judge, nor one the plan
left out: a loop pass plans only some tenants, so every tenant whose people or namespace differ between the
whole revision and the base (`differing_tenants`) must be among the plan's accepted changes, whatever the pass
selected. Apart from the governance objects (reconciler.governance) and the system that holds the base
(reconciler.governance_backend).
"""

from __future__ import annotations

from collections.abc import Iterable

from controlplane.loading.repo import ConfigRepo
from controlplane.plans import Change, ObjectRef, Plan, SpecKey
from controlplane.specs import Tenant
from reconciler import governance
from reconciler.governance import API_VERSION, SYSTEM, TENANT, TENANT_KINDS, full_diff
from reconciler.governance_backend import GovernanceBackend


def pending(plan: Plan) -> list[Change]:
    return [c for c in plan.pending if c.ref.system == SYSTEM]


def next_base(plan: Plan, base: str | None, people: frozenset[str] | None = None) -> str | None:
    """The revision to record as applied: the plan's when no governance change of it is blocked (they cannot
    fail: applying one writes nothing), else the base it was judged by. A denied change to the rules must never
    become the next judge.

    `people`: every tenant whose people or namespace differ between the whole revision and the base
    (`differing_tenants`), for a plan that may hold only some tenants' (the loop plans the tenants that changed).
    Each one's change must then be in the plan, allowed and not blocked: one the plan left out (a tenant not
    selected, a tenant backing off) keeps the base, as a denied one does. A tenant's governance objects are planned
    together, so a blocked one of them keeps the base above. The other governance objects (the policy, its files,
    mlcp.yaml) are in every plan. None: the plan holds every tenant's (a full plan: `mlcp apply`).
    """
    changes = pending(plan)
    if any(c.blocked for c in changes):
        return base
    if people:
        accepted = {
            c.ref.name for c in changes if c.ref.kind in TENANT_KINDS and c.decision is not None and c.decision.allowed
        }
        if not people <= accepted:
            return base
    return plan.revision


def tenant_differs(repo: ConfigRepo, keeper: GovernanceBackend, tenant: str) -> bool:
    """Whether `tenant`'s people (owners and members) or namespace in the revision `repo` are not those of the
    trusted base `keeper` holds: changed, or the tenant came or went."""
    loaded = repo.spec(SpecKey(TENANT, tenant, tenant))
    ours = governance.tenant_objects(loaded) if loaded is not None and isinstance(loaded.spec, Tenant) else ()
    if not ours:
        return any(ObjectRef(SYSTEM, API_VERSION, kind, None, tenant) in keeper.objects for kind in TENANT_KINDS)
    for obj in ours:
        theirs = keeper.objects.get(obj.ref)
        if theirs is None or (obj.manifest != theirs.manifest and full_diff(theirs.manifest, obj.manifest)):
            return True
    return False


def differing_tenants(repo: ConfigRepo, keeper: GovernanceBackend, tenants: Iterable[str] | None = None) -> set[str]:
    """Of `tenants` (None: every tenant of the revision or the base), those whose people or namespace differ
    (`tenant_differs`)."""
    if tenants is None:
        ours = {loaded.tenant or loaded.spec.metadata.name for loaded in repo.of_kind(TENANT)}
        tenants = ours | {ref.name for ref in keeper.objects if ref.kind in TENANT_KINDS}
    return {tenant for tenant in tenants if tenant_differs(repo, keeper, tenant)}


def advances(plan: Plan) -> bool:
    """Whether applying `plan` would record a new trusted base, even with nothing else to write.

    A revert of a denied commit restores what is live, so its plan is empty; it must still be applied and
    recorded, or the reverted commit stays in every later range and is charged to whoever touches its files next.
    """
    trusted = plan.meta.get("trustedBase") or {}
    base = trusted.get("revision")
    revision = next_base(plan, base)
    return revision is not None and (revision != base or trusted.get("origin") != "applied")
