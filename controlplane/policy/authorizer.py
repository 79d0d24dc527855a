"""Evaluating the AccessPolicy: roles, bindings and rules against git identities. Pure.

Default deny: a change is allowed only when a rule of a role bound to the
actor grants the action on the kind in that tenant. `@own` scopes a rule to
tenants where the actor is an owner or an `admin`/`edit` member (directly or
through a group declared in the policy); a `view` member only reads, in git as
in the cluster. When several people touched a spec, every one of
them must be allowed: a change is only as trusted as its least trusted author.

The policy and the tenants given here are the trusted base's, never the
revision under review's. The rules themselves (`PROTECTED_KINDS`) are granted
only by a rule that names the kind, or by a rule over all kinds in all tenants
(a platform admin's): `kinds: ["*"]` scoped to `@own` never lets a tenant owner
add people to her tenant or rewrite the policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from controlplane.plans import DEFAULT_DENY, Decision
from controlplane.specs import AccessPolicy, Tenant

ANYONE = "*"
OWN = "@own"
PROTECTED_KINDS = frozenset({"AccessPolicy", "Config", "TenantMembership"})


@dataclass(frozen=True)
class Grant:
    role: str
    rule: str


class Authorizer:
    """Answers `can(identity, action, kind, tenant)` for one policy and set of tenants."""

    def __init__(self, policy: AccessPolicy | None, tenants: Mapping[str, Tenant]) -> None:
        self.policy = policy
        self.tenants = tenants

    def groups_of(self, identity: str) -> set[str]:
        if self.policy is None:
            return set()
        who = identity.lower()  # identities are lower-cased emails; the policy's as its author wrote them
        return {name for name, members in self.policy.spec.groups.items() if who in {m.lower() for m in members}}

    def roles_of(self, identity: str) -> list[str]:
        """Roles bound to `identity` directly, through a group, or to everyone (`users: ["*"]`)."""
        if self.policy is None:
            return []
        groups = self.groups_of(identity)
        roles: list[str] = []
        for binding in self.policy.spec.bindings:
            users = {u.lower() for u in binding.users}
            bound = identity.lower() in users or ANYONE in users or groups & set(binding.groups)
            if bound and binding.role not in roles:
                roles.append(binding.role)
        return roles

    def _belongs(self, identity: str, tenant: str | None) -> bool:
        spec = self.tenants.get(tenant) if tenant else None
        if spec is None:
            return False
        if identity.lower() in {i.lower() for i in spec.writers()}:
            return True
        return bool(self.groups_of(identity) & spec.writer_groups())

    def _grants(self, identity: str, action: str, kind: str, tenant: str | None) -> Iterable[Grant]:
        if self.policy is None:
            return
        roles = {r.name: r for r in self.policy.spec.roles}
        for role_name in self.roles_of(identity):
            role = roles.get(role_name)
            if role is None:
                continue
            for index, rule in enumerate(role.rules):
                if action not in rule.actions and ANYONE not in rule.actions:
                    continue
                if kind not in rule.kinds and ANYONE not in rule.kinds:
                    continue
                scope = set(rule.tenants)
                if kind in PROTECTED_KINDS and kind not in rule.kinds and ANYONE not in scope:
                    continue
                if (
                    ANYONE in scope
                    or (tenant is not None and tenant in scope)
                    or (OWN in scope and self._belongs(identity, tenant))
                ):
                    yield Grant(role_name, f"{role_name}.rules[{index}]")

    def can(self, identity: str, action: str, kind: str, tenant: str | None) -> Decision:
        """Whether one identity may do `action` on a spec of `kind` in `tenant`."""
        where = f" in tenant {tenant!r}" if tenant else ""
        if self.policy is None:
            return Decision(False, DEFAULT_DENY, "the repo has no AccessPolicy (policies/access.yaml)", (identity,))
        for grant in self._grants(identity, action, kind, tenant):
            return Decision(True, grant.rule, f"{identity} may {action} {kind}{where} (role {grant.role})", (identity,))
        roles = ", ".join(self.roles_of(identity)) or "none"
        return Decision(
            False, DEFAULT_DENY, f"no rule lets {identity} {action} {kind}{where} (roles: {roles})", (identity,)
        )

    def decide(self, actors: Sequence[str], action: str, kind: str, tenant: str | None) -> Decision:
        """All actors must be allowed; the first denial decides, otherwise the first grant."""
        if not actors:
            return Decision(False, DEFAULT_DENY, "no identity: no commit accounts for this change", ())
        decisions = [self.can(actor, action, kind, tenant) for actor in dict.fromkeys(actors)]
        denied = next((d for d in decisions if not d.allowed), None)
        chosen = denied or decisions[0]
        return Decision(chosen.allowed, chosen.rule, chosen.reason, tuple(dict.fromkeys(actors)))

    def person(self, identity: str) -> str:
        """The person an identity belongs to (the policy's `people`), or the identity itself."""
        if self.policy is not None:
            for name, identities in self.policy.spec.people.items():
                if identity in {i.lower() for i in identities}:
                    return name
        return identity

    def members_of(self, users: Iterable[str], groups: Iterable[str]) -> set[str]:
        """Identities named directly or through the policy's groups."""
        named = {u.lower() for u in users}
        if self.policy is not None:
            for group in groups:
                named |= {m.lower() for m in self.policy.spec.groups.get(group, [])}
        return named

    def approvers(self, kind: str, tenant: str | None, candidates: Iterable[str]) -> list[str]:
        """The candidates allowed to `approve` a spec of `kind` in `tenant`."""
        return [c for c in candidates if self.can(c, "approve", kind, tenant).allowed]
