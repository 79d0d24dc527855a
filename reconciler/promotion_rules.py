"""The trusted base's rules about promotions, as pure functions of the policy and a promotion.

The approval rules that match a promotion (tenant, model pattern, alias pattern), the mandatory gates it must
declare at least as strictly, the quarantined versions it may never resolve to, and which alias a change of its
moves (what freeze windows hold), and who may have chosen the version of a promotion of whatever `fromAlias`
names. reconciler.authorizing applies them with git's history; they read nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from fnmatch import fnmatchcase

from controlplane.plans import Change
from controlplane.policy.approvals import Movers
from controlplane.rendering.mlflow_objects import MODEL_ALIAS, AliasRef
from controlplane.specs import AccessPolicy, Tenant
from controlplane.specs.access_policy import ApprovalRule, Quarantine
from controlplane.specs.model_promotion import MetricGate, ModelPromotionSpec


def matching(policy: AccessPolicy | None, tenant: str | None, model: str, alias: str) -> list[ApprovalRule]:
    """The policy's approval rules for a promotion of `model` to `alias` in `tenant` (every one applies).

    Tenants are patterns like models and aliases (and a freeze window's tenants): `tenants: [vision-*]` matched
    no tenant when names were compared exactly, so the rule silently asked for no approval at all."""
    if policy is None:
        return []
    return [
        rule
        for rule in policy.spec.approvals
        if tenant is not None
        and any(fnmatchcase(tenant, pattern) for pattern in rule.tenants)
        and any(fnmatchcase(model, pattern) for pattern in rule.models)
        and any(fnmatchcase(alias, pattern) for pattern in rule.aliases)
    ]


def missing_gates(promotion: ModelPromotionSpec, rules: list[ApprovalRule]) -> list[str]:
    """The rules' mandatory gates the promotion does not declare at least as strictly, described once each."""
    missing = [
        _describe(gate)
        for rule in rules
        for gate in rule.gates
        if not any(_at_least_as_strict(own, gate) for own in promotion.gates)
    ]
    return list(dict.fromkeys(missing))


def quarantined(policy: AccessPolicy | None, model: str, version: str) -> Quarantine | None:
    """The policy's quarantine entry holding `version` of `model`, if any."""
    for entry in policy.spec.quarantine if policy is not None else ():
        if entry.model == model and version in {str(v) for v in entry.versions}:
            return entry
    return None


def alias_of(change: Change, promotion: ModelPromotionSpec | None) -> tuple[str | None, str | None]:
    """(model, alias) a change moves, for freeze windows: an alias object's own (`<model>@<alias>`: a deleted
    promotion's, or the alias a renamed promotion leaves), else its promotion's (the serving that follows it)."""
    if change.ref.kind == MODEL_ALIAS:
        with suppress(ValueError):
            moved = AliasRef.of(change.ref)
            return moved.model, moved.alias
    return (promotion.model, promotion.alias) if promotion is not None else (None, None)


def _at_least_as_strict(gate: MetricGate, rule: MetricGate) -> bool:
    if gate.metric != rule.metric:
        return False
    if rule.comparison in (">", ">="):
        return gate.comparison in (">", ">=") and (
            gate.threshold > rule.threshold
            or (gate.threshold == rule.threshold and gate.comparison in (rule.comparison, ">"))
        )
    if rule.comparison in ("<", "<="):
        return gate.comparison in ("<", "<=") and (
            gate.threshold < rule.threshold
            or (gate.threshold == rule.threshold and gate.comparison in (rule.comparison, "<"))
        )
    return gate.comparison == rule.comparison and gate.threshold == rule.threshold


def _describe(gate: MetricGate) -> str:
    return f"{gate.metric} {gate.comparison} {gate.threshold:g}"


def alias_movers(promotion: ModelPromotionSpec, tenant: str, people: Iterable[Tenant | None]) -> Movers | None:
    """For a promotion of whatever `fromAlias` names: the people who may have moved that alias, and so chose the
    version, none of whom may approve it (four eyes: one chooses, another approves). None for a pinned version.

    The registry records no one for an alias move, so everyone who may move it counts: mlcp grants EDIT (owners
    MANAGE) on a tenant's promoted models to its owners and admin/edit members, here as each of `people` (the
    trusted base's Tenant, the revision's) names them. Before, the member who moved `staging` to a version of her
    choosing approved its promotion herself: the spec's writer, excluded, had only said "whatever staging holds"."""
    alias = promotion.from_alias
    if alias is None:
        return None
    movers = frozenset(writer.lower() for spec in people if spec is not None for writer in spec.writers())
    why = (
        f"may move `{alias}` in the registry (an owner or editor of tenant {tenant!r}), which chose the version: "
        "approvers of a `fromAlias` promotion come from outside the tenant (or pin `version`)"
    )
    return Movers(movers, why)
