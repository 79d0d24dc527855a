"""Counting approvals: of a promotion (`requiredApprovals`, the policy's approval rules and gates) and of a freeze
window's override (`mlcp approve --override`).

The authorizer (reconciler.authorizing) decides whether a change may be made at all; this counts who approved it,
by the trusted base's rules: only approvals given after the content's last change (the history's
`approvals_after`), by people the base's policy names, never by anyone who may have written the file (verified or
only claimed: `either`), nor, for a `fromAlias` promotion, by anyone who may have moved its version: the tenant's
writers, and whomever the registry (`registry`, asked about these approvers alone) says may move the alias or
cannot say about.
"""

from __future__ import annotations

from typing import cast

from controlplane.loading.repo import ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import Action, Change, Decision, SpecKey
from controlplane.policy import approvals, freezes
from controlplane.policy.authorizer import Authorizer
from controlplane.specs import ModelPromotion, Tenant
from reconciler import promotion_rules
from reconciler.backends.movers import AliasRightsReader
from reconciler.commits import Authorship
from reconciler.identity import History
from reconciler.trust import TrustedBase

APPROVAL_POLICY = "approval-policy"


class Approvals:
    """The approvals of one desired revision's changes, by the rules of the trusted base."""

    def __init__(
        self,
        repo: ConfigRepo,
        history: History | None,
        trusted: TrustedBase,
        authorizer: Authorizer,
        versions: dict[SpecKey, str],
        registry: AliasRightsReader | None = None,
    ) -> None:
        """`versions`: promotion spec → the model version its alias change resolved to, as the authorizer learns
        them from the plan (the same mapping, filled before any change is decided). `registry`: who it lets move a
        model's aliases (None: no registry in the plan, so no approval of a `fromAlias` promotion counts)."""
        self.registry = registry
        self.repo = repo
        self.history = history
        self.trusted = trusted
        self.policy = trusted.policy
        self.authorizer = authorizer
        self._versions = versions

    def override(
        self,
        change: Change,
        loaded: LoadedSpec | None,
        hold: freezes.Hold,
        version: str | None,
        kind: str,
        tenant: str | None,
    ) -> str | None:
        """Why the window's override does not let this change through, or None when it does."""
        if change.action is Action.delete and loaded is None:
            return "a spec removed from git has no content to approve an override of: keep it until the window closes"
        if loaded is None or self.history is None or change.source is None:
            return "an override needs the change's spec in git (`mlcp approve --override PATH`)"
        rule = hold.window.override
        trailers = self.history.approvals_after(loaded.source.path, freezes.OVERRIDE_TRAILER)
        eligible = self.authorizer.approvers(kind, tenant, {who for who, _ in trailers})
        if rule.approvers.users or rule.approvers.groups:
            allowed = self.authorizer.members_of(rule.approvers.users, rule.approvers.groups)
            eligible = [who for who in eligible if who in allowed]
        authors = self.writers(change.source)
        required, person = rule.required, self.authorizer.person
        movers = self.movers(loaded, trailers, eligible)
        result = approvals.count(loaded, version, required, trailers, authors, eligible, person, movers)
        if not result.missing:
            return None
        ignored = f" [ignored: {'; '.join(result.ignored)}]" if result.ignored else ""
        return f"override: {result.summary()}{ignored}; `mlcp approve --override {loaded.source.path}`"

    def writers(self, source: str | None) -> tuple[str, ...]:
        """Who wrote the file as it is, verified or only claimed: none of them counts as its approver."""
        if self.history is None:  # never asked then: every change is denied without a history
            return ()
        return either(self.history.authorship([source] if source else []))

    def movers(
        self, loaded: LoadedSpec, trailers: list[tuple[str, str]], eligible: list[str]
    ) -> approvals.Movers | None:
        """Who may have chosen a `fromAlias` promotion's version (promotion_rules.alias_movers): the tenant's
        writers as the trusted base and the revision name them, and those of its eligible approvers (as `trailers`
        name them) the registry says may move the alias, or cannot say about. The registry is asked about every
        identity the base's policy gives each approver (an MLflow user is named as a git identity is)."""
        if loaded.spec.kind != "ModelPromotion" or not loaded.tenant:
            return None
        promotion = cast(ModelPromotion, loaded.spec).spec
        if promotion.from_alias is None:
            return None
        declared = self.repo.spec(SpecKey("Tenant", loaded.tenant, loaded.tenant))
        revision = declared.spec if declared is not None and isinstance(declared.spec, Tenant) else None
        people = (self.trusted.tenants.get(loaded.tenant), revision)
        allowed = set(eligible)
        asked = {who: self.identities(who) for who, _ in trailers if who in allowed}
        everyone = {identity for identities in asked.values() for identity in identities}
        rights = self.registry.alias_rights(promotion.model, everyone) if self.registry and asked else None
        return promotion_rules.alias_movers(promotion, loaded.tenant, people, asked, rights)

    def identities(self, who: str) -> frozenset[str]:
        """Every identity of the person behind `who`, as the base's policy maps them (`people`), lower case."""
        person = self.authorizer.person(who)
        named = self.policy.spec.people.get(person, []) if self.policy is not None else []
        return frozenset({who.lower(), *(identity.lower() for identity in named)})

    def approved(self, change: Change, decision: Decision, authors: tuple[str, ...]) -> Decision:
        """A promotion's `decision` once its gates and approvals are counted: refused when the policy's gates are
        not declared or approvals are missing; `authors` (its writers) never count as approvers."""
        loaded = self.repo.spec(change.spec)
        if loaded is None:
            return decision
        promotion = cast(ModelPromotion, loaded.spec).spec
        rules = promotion_rules.matching(self.policy, loaded.tenant, promotion.model, promotion.alias)
        missing = promotion_rules.missing_gates(promotion, rules)
        if missing:
            reason = f"the policy requires the gate(s) {', '.join(missing)}; declare each, at least as strict"
            return Decision(False, APPROVAL_POLICY, reason, decision.actors)
        required = max([promotion.required_approvals, *(rule.required for rule in rules)])
        if required == 0:
            return decision
        trailers = self.history.approvals_after(loaded.source.path, approvals.TRAILER) if self.history else []
        eligible = self.authorizer.approvers("ModelPromotion", loaded.tenant, {who for who, _ in trailers})
        for rule in rules:
            named = rule.approvers
            if named.users or named.groups:
                allowed = self.authorizer.members_of(named.users, named.groups)
                eligible = [who for who in eligible if who in allowed]
        version = self._versions.get(loaded.key) or (str(promotion.version) if promotion.version else None)
        person, movers = self.authorizer.person, self.movers(loaded, trailers, eligible)
        result = approvals.count(loaded, version, required, trailers, authors, eligible, person, movers)
        reason = result.summary() + (f" [ignored: {'; '.join(result.ignored)}]" if result.ignored else "")
        if movers is not None and movers.note and result.approvers:
            reason += f" ({movers.note})"
        if required > promotion.required_approvals:
            reason += f" (the policy requires {required}; the spec asks for {promotion.required_approvals})"
        if result.missing:
            return Decision(False, "approvals", reason, decision.actors, result.approvers)
        return Decision(True, decision.rule, f"{decision.reason}; {reason}", decision.actors, result.approvers)


def either(authorship: Authorship) -> tuple[str, ...]:
    """The verified and the claimed writers of a file: an approval is refused from anyone who may have written it,
    whatever a signature says (fail closed in both directions)."""
    return tuple(dict.fromkeys(authorship.actors + authorship.claimed))
