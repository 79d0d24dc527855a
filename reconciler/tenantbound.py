"""Changes other specs take from their tenant's Tenant go ahead only with the Tenant change.

Other specs render from their tenant's Tenant as the revision has it: a Notebook's RoleBinding names the
tenant's owners and members (all of them when its `users` is empty; its `users`, checked against them,
otherwise), an MLflow experiment's owners tag names its owners, and every namespaced object of the tenant lives
in the tenant's namespace. Their changes are judged as changes of their own spec, by its file's authors. Alone,
that let a Tenant change the base's policy refuses reach the cluster anyway: a stranger adding herself to a
tenant (the membership change denied, rule `tenant-membership`) was bound by the notebook's RoleBinding, which
the notebook file's last writer (an admin) was allowed to change; a namespace moved by someone who may not change
the Tenant moved every workload to the new namespace and, with `--prune`, deleted them from the old one.

So, when a tenant's people differ from the trusted base's, a change of an object its kind declares as naming
people (`renders(..., people=...)`, `catalog.NAMES_PEOPLE`) is allowed only when every change of the Tenant
(its objects, the MLflow grants charged to it, its membership) is allowed; when its namespace differs, the same
holds for every change of a namespaced object of the tenant. Otherwise it is denied under `tenant-membership` or
`tenant-namespace`, naming the Tenant change's refusal and its authors. The Tenant's own changes are judged as
the Tenant already. tests/controlplane/rendering/test_tenant_derived.py walks every kind for objects that take
the tenant's people or namespace without being caught here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import cast

from controlplane.plans import Action, Change, Decision
from controlplane.rendering import catalog
from reconciler import governance

MEMBERSHIP_RULE = "tenant-membership"
NAMESPACE_RULE = "tenant-namespace"
TENANT = governance.TENANT

Moved = Callable[[str], tuple[str | None, str] | None]
"""A tenant → (the trusted base's namespace or None for a new tenant, the revision's) when they differ."""


def _of_the_tenant(change: Change) -> bool:
    """A change of the Tenant spec itself (its objects, the MLflow grants charged to it) or of its people or namespace
    as the trusted base knows them (governance.TENANT_KINDS)."""
    if change.ref.system == governance.SYSTEM:
        return change.ref.kind in governance.TENANT_KINDS
    return change.spec is not None and change.spec.kind == TENANT


def refusals(changes: Iterable[Change], decisions: Sequence[Decision | None]) -> dict[str, Decision]:
    """Tenant → the first refusal among its Tenant's changes, for tenants with one.

    A refused delete of the Tenant's own objects does not count: what other specs follow is the Tenant's new
    state (its people, written by updates and its membership change; its namespace, by creates), and an allowed
    namespace move whose clean-up of the old namespace is refused (a policy without `delete`, no `--prune`) still
    moved the tenant."""
    refused: dict[str, Decision] = {}
    for change, decision in zip(changes, decisions, strict=True):
        tenant = change.tenant
        refusing = decision is not None and not decision.allowed
        if not refusing or not tenant or tenant in refused or not _of_the_tenant(change):
            continue
        if change.action is not Action.delete or change.ref.system == governance.SYSTEM:
            refused[tenant] = cast(Decision, decision)
    return refused


def couple(
    changes: Sequence[Change], decisions: Sequence[Decision | None], people: Iterable[str], moved: Moved
) -> list[Decision | None]:
    """`decisions` (one per change, None for a no-op) with every allowed change that follows a refused Tenant
    change denied. `people`: the tenants whose owners or members differ from the trusted base's."""
    refused = refusals(changes, decisions)
    if not refused:
        return list(decisions)
    changed_people = frozenset(people)
    out: list[Decision | None] = []
    for change, decision in zip(changes, decisions, strict=True):
        tenant = change.tenant
        if decision is None or not decision.allowed or not tenant or tenant not in refused or _of_the_tenant(change):
            out.append(decision)
            continue
        refusal = refused[tenant]
        why = _follows(change, tenant in changed_people, moved(tenant))
        if why is None:
            out.append(decision)
            continue
        rule, what = why
        reason = f"{what} of tenant {tenant!r}, whose change may not go ahead ({refusal.rule}: {refusal.reason})"
        actors = tuple(dict.fromkeys((*decision.actors, *refusal.actors)))
        out.append(Decision(False, rule, reason, actors, decision.approvers))
    return out


def _follows(change: Change, people: bool, namespace: tuple[str | None, str] | None) -> tuple[str, str] | None:
    """(rule, what the change takes from the Tenant) when it takes something that changed, else None."""
    if change.action is Action.noop:
        return None
    if people and change.spec is not None and catalog.names_people(change.spec.kind, change.ref.kind):
        return MEMBERSHIP_RULE, "names the owners and members"
    if namespace is not None and change.ref.namespace is not None:
        old, new = namespace
        moving = f"from {old!r} to {new!r}" if old is not None else f"to {new!r}, a new tenant's"
        return NAMESPACE_RULE, f"is placed by the namespace (moving {moving})"
    return None
