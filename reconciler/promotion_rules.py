"""The trusted base's rules about promotions, as pure functions of the policy and a promotion.

The approval rules that match a promotion (tenant, model pattern, alias pattern), the mandatory gates it must
declare at least as strictly, the quarantined versions it may never resolve to, and which alias a change of its
moves (what freeze windows hold), and who may have chosen the version of a promotion of whatever `fromAlias`
names (the tenant's writers, and whom the registry's own answer bars). reconciler.authorizing applies them with
git's history and the registry's answer; they read nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from contextlib import suppress
from fnmatch import fnmatchcase

from controlplane.plans import Change
from controlplane.policy.approvals import Movers
from controlplane.rendering.mlflow_objects import MODEL_ALIAS, AliasRef
from controlplane.specs import AccessPolicy, Tenant
from controlplane.specs.access_policy import ApprovalRule, Quarantine
from controlplane.specs.model_promotion import MetricGate, ModelPromotionSpec
from reconciler.backends.movers import AliasRights, Standing


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


def alias_movers(
    promotion: ModelPromotionSpec,
    tenant: str,
    people: Iterable[Tenant | None],
    approvers: Mapping[str, Collection[str]] | None = None,
    rights: AliasRights | None = None,
) -> Movers | None:
    """For a promotion of whatever `fromAlias` names: the people who may have moved that alias, and so chose the
    version, none of whom may approve it (four eyes: one chooses, another approves). None for a pinned version.

    The registry records no one for an alias move, so everyone who may move it counts: mlcp grants EDIT (owners
    MANAGE) on a tenant's promoted models to its owners and admin/edit members, here as each of `people` (the
    trusted base's Tenant, the revision's) names them. Before, the member who moved `staging` to a version of her
    choosing approved its promotion herself: the spec's writer, excluded, had only said "whatever staging holds".

    The registry may let others move it too (a grant made outside mlcp, a default permission, its admins): each of
    `approvers` (as their approvals name them → every identity of theirs) is judged by `rights`, the registry's
    answer (registry_verdicts); None: it was not asked, and none of them counts."""
    alias = promotion.from_alias
    if alias is None:
        return None
    movers = frozenset(writer.lower() for spec in people if spec is not None for writer in spec.writers())
    why = (
        f"may move `{alias}` in the registry (an owner or editor of tenant {tenant!r}), which chose the version: "
        "approvers of a `fromAlias` promotion come from outside the tenant (or pin `version`)"
    )
    if rights is not None and rights.open:
        note = (
            f"the registry runs without auth: anyone who reaches it may have moved `{alias}`, so these approvals are "
            "four eyes only while nobody else can reach it (turn on MLflow basic-auth, or pin `version`)"
        )
        return Movers(movers, why, None, note)
    return Movers(movers, why, registry_verdicts(alias, approvers or {}, rights))


def registry_verdicts(
    alias: str, approvers: Mapping[str, Collection[str]], rights: AliasRights | None
) -> dict[str, str | None]:
    """Per approver: why the registry bars them (it says one of their users may move `alias`, or cannot say), or
    None when it knows a user of theirs and none of their users may move it. An approver with no user the registry
    knows is barred: mlcp cannot tell which user is theirs (fail safe)."""
    verdicts: dict[str, str | None] = {}
    for who, identities in approvers.items():
        if rights is None:
            verdicts[who] = (
                f"mlcp did not ask the registry who may move `{alias}`, so it cannot tell whether they did (pin "
                "`version`, or plan with the registry reachable)"
            )
            continue
        found = [rights.rights[i] for i in sorted(identities) if i in rights.rights]
        moving = [right.why for right in found if right.standing is Standing.may_move]
        if moving:
            verdicts[who] = f"{moving[0]}: may move `{alias}`, which chose the version (or pin `version`)"
        elif any(right.standing is Standing.cannot_move for right in found):
            verdicts[who] = None
        else:
            names = ", ".join(sorted(identities))
            verdicts[who] = (
                f"the registry knows no user of theirs ({names}), so mlcp cannot tell whether they may move "
                f"`{alias}`: create their MLflow user, or name it among their identities in the policy's `people`"
            )
    return verdicts
