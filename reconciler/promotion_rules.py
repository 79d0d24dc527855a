"""The trusted base's rules about promotions, as pure functions of the policy and a promotion.

The approval rules that match a promotion (tenant, model pattern, alias pattern), the mandatory gates it must
declare at least as strictly, the quarantined versions it may never resolve to, and which alias a change of its
moves (what freeze windows hold). reconciler.authorizing applies them with git's history; they read nothing.
"""

from __future__ import annotations

from contextlib import suppress
from fnmatch import fnmatchcase

from controlplane.plans import Change
from controlplane.rendering.mlflow_objects import MODEL_ALIAS, AliasRef
from controlplane.specs import AccessPolicy
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
