"""Authorizing a plan: every pending change gets a Decision, and denied ones are blocked.

Identity comes from git (reconciler.identity); every rule comes from the
trusted base (reconciler.trust): its AccessPolicy, its tenants' people for
`@own`, its allowed signers and its approval rules. The revision under review
never judges itself: a change to any of those inputs is a governance change
(reconciler.governance) that the base's policy must allow. Denied changes stay
in the plan, marked, so a reviewer sees them; apply skips them while the
allowed changes of the same revision still go ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

from controlplane.loading.repo import CONFIG_FILE, ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import UNVERIFIED, Action, Change, Decision, Plan, SpecKey
from controlplane.policy import freezes
from controlplane.policy.authorizer import Authorizer
from controlplane.rendering.mlflow_objects import MODEL_ALIAS
from controlplane.specs import ModelPromotion, Tenant
from controlplane.specs.model_promotion import ModelPromotionSpec
from reconciler import approving, conversions, governance, promotion_rules, tenantbound
from reconciler.approving import either
from reconciler.backends.movers import AliasRightsReader
from reconciler.baselisting import POLICY_DIR, TENANTS
from reconciler.identity import History, open_history
from reconciler.trust import TrustedBase

SIGNED_RULE = "requireSignedCommits"
TRUSTED_BASE_RULE = "trusted-base"
MEMBERSHIP_RULE = tenantbound.MEMBERSHIP_RULE
FREEZE_RULE = "freeze-window"
QUARANTINE_RULE = "quarantine"
RESTORE_RULE = "restore"
HEAL_RULE = "heal"
HEALABLE = frozenset({Action.create, Action.update})
UNHEALABLE_KINDS = frozenset({"ModelPromotion", *governance.PROTECTED_KINDS})
"""A promotion's alias and serving follow the registry's versions, not git alone (a moved `fromAlias` is a new
promotion; a hand-moved alias has its own restore, `RESTORE_RULE`); the rules are never drift."""


def spec_identity(change: Change) -> tuple[str, str | None]:
    """(kind, tenant) a change is authorized as: the governance kind for rules, else its spec's kind."""
    if change.ref.system == governance.SYSTEM:
        return governance.AUTHORIZED_AS.get(change.ref.kind, "*"), change.tenant
    if change.spec is None or not change.spec.kind:
        return "*", change.tenant
    return change.spec.kind, change.tenant if change.tenant is not None else change.spec.tenant


class PlanAuthorizer:
    """Decides, for one desired revision, which changes may be applied, by the rules of the trusted base."""

    def __init__(
        self,
        repo: ConfigRepo,
        revision: str | None,
        base: str | None,
        trusted: TrustedBase,
        enforce: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        clean: bool = False,
        converged: frozenset[str] = frozenset(),
        registry: AliasRightsReader | None = None,
    ) -> None:
        """`clean`: the caller made the work tree exactly `revision` itself (the loop's own checkout,
        `gitsync.Checkout.clean`), so no file can be uncommitted and `git status` (which reads every folder
        of the work tree: O(tenants)) is not asked. Anywhere else (a person's work tree) it is.

        `converged`: the tenants that converged to `base` itself (the loop's per-tenant revisions): everything
        they declared then was authorized and applied, so a change of theirs that no commit since asked for puts
        back what was applied (`_healing`).

        `registry`: the registry of the plan, asked who it lets move a model's aliases (approving.Approvals); None:
        none is in the plan, and no approval of a `fromAlias` promotion counts."""
        self.enforce = enforce
        self.now = clock()
        """One moment for the whole plan: every freeze window is judged at the same time."""
        self.trusted = trusted
        self.policy = trusted.policy
        self.authorizer = Authorizer(self.policy, trusted.tenants)
        self.repo = repo
        self.require_signed = bool(self.policy and self.policy.spec.require_signed_commits)
        self.history: History | None = (
            open_history(repo.root, revision, base, self.require_signed, trusted.signers) if revision else None
        )
        self._decided: dict[tuple[str | None, SpecKey | None, Action, str | None], Decision] = {}
        self._people: dict[str, Action] = {}
        """Tenants whose owners or members differ from the trusted base, and how (create, update, delete)."""
        self._versions: dict[SpecKey, str] = {}
        """Promotion spec → the model version its alias change resolved to (the registry's review)."""
        self.approvals = approving.Approvals(repo, self.history, trusted, self.authorizer, self._versions, registry)
        self.converged = converged
        self._untouched: dict[str, bool] = {}
        """Per converged tenant: whether no commit since `base` touched anything its objects are rendered from."""
        self.dirty = self.history.uncommitted() if self.history and not clean else set()
        self.unheld = self.history.unheld({s.source.path for s in repo.specs}) if self.history and not clean else set()
        """Spec files the work tree has but `revision` does not hold (a submodule's, a nested repository's)."""
        self._converted: dict[str, str] | None = None
        self._asked: set[str] = set()
        """Spec files git checked out through a conversion (`conversions.py`), asked on the first decision, also
        in the loop's clean checkout: `.gitattributes` is the revision's own, and git applies it to every checkout."""

    def decide(self, change: Change) -> Decision:
        """The decision for a change; the objects one spec renders to share it (it depends only on the spec
        file's authorship, the spec, the action and the rules), so it is reached once per spec and action."""
        key = (change.source, change.spec, change.action, change.ref.system)
        decided = self._decided.get(key)
        if decided is None:
            decided = self._decided[key] = self._frozen(change, self._quarantined(change) or self._decide(change))
        return decided

    def _promotion(self, change: Change) -> tuple[LoadedSpec, ModelPromotionSpec, str | None] | None:
        """The promotion spec behind a change, and the version it resolves to (None: not a promotion's)."""
        loaded = self.repo.spec(change.spec)
        if loaded is None or loaded.spec.kind != "ModelPromotion":
            return None
        promotion = cast(ModelPromotion, loaded.spec).spec
        version = self._versions.get(loaded.key) or (str(promotion.version) if promotion.version else None)
        return loaded, promotion, version

    def _quarantined(self, change: Change) -> Decision | None:
        """A refusal when a promotion resolves to a version the base's policy quarantines."""
        found = self._promotion(change) if self.policy is not None and change.action is not Action.delete else None
        if found is None:
            return None
        _, promotion, version = found
        entry = promotion_rules.quarantined(self.policy, promotion.model, version) if version is not None else None
        if entry is None:
            return None
        source = f"`fromAlias: {promotion.from_alias}` resolves to" if promotion.from_alias else "it promotes"
        reason = (
            f"version {version} of {promotion.model!r} is quarantined by the policy ({entry.reason}); "
            f"{source} it. Promote another version"
        )
        return Decision(False, QUARANTINE_RULE, reason)

    def _frozen(self, change: Change, decision: Decision) -> Decision:
        """The decision, or a hold when an open freeze window of the base's policy matches the change and its
        override approvals (`mlcp approve --override`) are missing."""
        if not decision.allowed or self.policy is None or not self.policy.spec.freeze_windows:
            return decision
        if change.drift is not None or decision.rule == HEAL_RULE:  # restores the declared state: not held
            return replace(decision, reason=f"{decision.reason}; heals drift, not held by freeze windows")
        kind, tenant = spec_identity(change)
        found = self._promotion(change)
        model, alias = promotion_rules.alias_of(change, found[1] if found else None)
        holds = freezes.holds(
            self.policy.spec.freeze_windows, self.now, kind=kind, tenant=tenant, model=model, alias=alias
        )
        if not holds:
            return decision
        loaded = self.repo.spec(change.spec)
        notes = []
        for hold in holds:
            missing = self.approvals.override(change, loaded, hold, found[2] if found else None, kind, tenant)
            if missing is not None:
                return Decision(False, FREEZE_RULE, f"{hold.describe()}; {missing}", decision.actors)
            notes.append(f"{hold.describe()}, overridden")
        return replace(decision, reason=f"{decision.reason}; {'; '.join(notes)}")

    def _conversion(self, source: str | None) -> str | None:
        """The attribute that has git convert `source` on checkout, if any: every spec file is asked at once, a
        governance file that is no spec (policies/allowed_signers) when it comes."""
        if not source or self.history is None:
            return None
        if self._converted is None:
            self._asked = {s.source.path for s in self.repo.specs}
            self._converted = conversions.converted(self.repo.root, self._asked)
        if source not in self._asked:
            self._asked.add(source)
            self._converted.update(conversions.converted(self.repo.root, [source]))
        return self._converted.get(source)

    def _decide(self, change: Change) -> Decision:
        if self.history is None:
            return Decision(False, "default-deny", "not a git repository: no identity to authorize")
        kind, tenant = spec_identity(change)
        if change.source in self.dirty:
            return Decision(
                False, "uncommitted", f"{change.source} has uncommitted changes: no commit vouches for them"
            )
        if change.source in self.unheld:
            return Decision(
                False,
                "uncommitted",
                f"{change.source} is not a file of commit {self.history.head[:12]} (it is inside a submodule or "
                "a nested repository): no commit of this repo vouches for it",
            )
        converting = self._conversion(change.source)
        if converting:
            return Decision(
                False,
                "uncommitted",
                f"{change.source} is checked out through .gitattributes ({converting}): what mlcp read is not the "
                f"content of commit {self.history.head[:12]}, so no commit vouches for it",
            )
        if self.trusted.origin == "operator" and change.source and not self.history.changed_since_base(change.source):
            reason = (
                f"{change.source} is as in the trusted base {self.trusted.revision[:12]}, which the operator "
                "named and so vouches for"
            )
            vouched = Decision(True, TRUSTED_BASE_RULE, reason, ())
            if kind != "ModelPromotion" or change.action is Action.delete:
                return vouched
            # vouching for the file is no approval of the move, and its writers still may not approve it
            return self.approvals.approved(change, vouched, self.approvals.writers(change.source))
        authorship = self.history.authorship([change.source] if change.source else [])
        if self.require_signed and authorship.problems:
            unverified = tuple(f"{who}{UNVERIFIED}" for who in authorship.claimed if who not in authorship.actors)
            denial = Decision(False, SIGNED_RULE, "; ".join(authorship.problems), authorship.actors + unverified)
            return self._healing(change, denial) or denial
        decision = self.authorizer.decide(authorship.actors, change.action.value, kind, tenant)
        if not decision.allowed:
            return self._healing(change, decision) or decision
        if decision.allowed and kind == "Tenant" and tenant in self._people:
            people = self.authorizer.decide(authorship.actors, self._people[tenant].value, "TenantMembership", tenant)
            if not people.allowed:
                reason = f"changes who belongs to tenant {tenant!r}: {people.reason}"
                return Decision(False, MEMBERSHIP_RULE, reason, people.actors)
        if not decision.allowed or kind != "ModelPromotion" or change.action is Action.delete:
            return decision
        return self.approvals.approved(change, decision, either(authorship))

    def _healing(self, change: Change, denial: Decision) -> Decision | None:
        """A denied change that asks for nothing new: its tenant converged to the base it is judged from (its own
        applied revision), no commit since touched the tenant's folder, `policies/` or `mlcp.yaml` (all its
        objects are rendered from), and its object depends on git alone (not a promotion's alias or serving,
        which follow the registry, nor the rules). It puts back what was authorized and applied then (a hand
        edit or deletion undone), so the rights of the file's last writers today do not matter: one who has left
        the tenant since must not make its drift unhealable. Else None."""
        tenant = change.tenant
        if (
            self.history is None
            or not tenant
            or tenant not in self.converged
            or tenant in self._people
            or change.action not in HEALABLE
            or change.ref.system == governance.SYSTEM
            or change.spec is None
            or change.spec.kind in UNHEALABLE_KINDS
        ):
            return None
        untouched = self._untouched.get(tenant)
        if untouched is None:
            inputs = (f"{TENANTS}/{tenant}/", f"{POLICY_DIR}/", CONFIG_FILE)
            untouched = self._untouched[tenant] = not self.history.touched(inputs)
        if not untouched:
            return None
        base = (self.history.base or "")[:12]
        reason = (
            f"tenant {tenant!r} converged to {base} and no commit since touched what its objects are rendered from: "
            f"this writes back what was authorized and applied then (judged as a new change: {denial.reason})"
        )
        return Decision(True, HEAL_RULE, reason, ())

    def _learn(self, changes: Sequence[Change]) -> None:
        """What the rules need to know from the plan itself: changed tenant people, resolved versions."""
        for change in changes:
            if change.ref.system == governance.SYSTEM and change.ref.kind == governance.MEMBERSHIP:
                if change.action is not Action.noop and change.tenant:
                    self._people[change.tenant] = change.action
            elif change.ref.kind == MODEL_ALIAS and change.spec and change.desired:
                version = change.desired.get("version")
                if version is not None and str(version) != "None":
                    self._versions[change.spec] = str(version)

    def _judged(self, change: Change) -> Decision:
        """The change's own decision; a backend review's denial under a rule of its own (e.g.
        namespace-ownership) is kept over an allowing policy."""
        decision = self.decide(change)
        if change.decision is not None and not change.decision.allowed and decision.allowed:
            decision = Decision(False, change.decision.rule, change.decision.reason, decision.actors)
        return decision

    def _moved(self, tenant: str) -> tuple[str | None, str] | None:
        """(the trusted base's namespace of `tenant`, None if new there; the revision's) when they differ."""
        loaded = self.repo.spec(SpecKey("Tenant", tenant, tenant))
        if loaded is None:
            return None
        now = cast(Tenant, loaded.spec).namespace
        known = self.trusted.tenants.get(tenant)
        before = known.namespace if known is not None else None
        return (before, now) if before != now else None

    def authorize(self, plan: Plan) -> Plan:
        self._learn(plan.changes)
        own = [None if c.action is Action.noop else self._judged(c) for c in plan.changes]
        decisions = tenantbound.couple(plan.changes, own, self._people, self._moved)
        changes = []
        for change, decision in zip(plan.changes, decisions, strict=True):
            if decision is None:
                changes.append(change)
                continue
            denial = None if decision.allowed or not self.enforce else f"denied ({decision.rule}): {decision.reason}"
            if denial and decision.rule == FREEZE_RULE:
                denial = decision.reason  # "held by window W until T; override: ..."
            blocked = change.blocked or denial
            fallback = self._restoring(change.fallback, decision.actors) if change.fallback is not None else None
            drift = change.drift
            if drift is None and decision.rule == HEAL_RULE and decision.allowed and self.history is not None:
                drift = f"the live object is not what mlcp applied at {(self.history.base or '')[:12]}"
            changes.append(replace(change, decision=decision, blocked=blocked, fallback=fallback, drift=drift))
        return replace(plan, changes=tuple(changes))

    def _restoring(self, fallback: Change, actors: tuple[str, ...]) -> Change:
        """The judgement of a move back to the version mlcp last set (a change's fallback, `settled`).

        That version is the last one authorized, and the move undoes one made outside mlcp: it needs no author,
        no approval, and no freeze window holds it; only a version the base's policy quarantines since is not
        gone back to. Its actors are those of the change it stands in for, as for a drift heal.
        """
        want = fallback.desired or {}
        model, version = str(want.get("model")), str(want.get("version"))
        entry = promotion_rules.quarantined(self.policy, model, version)
        if entry is not None:
            reason = (
                f"version {version} of {model!r}, the version mlcp last set, is quarantined by the policy since "
                f"({entry.reason}); mlcp does not move it back there"
            )
            denial = f"denied ({QUARANTINE_RULE}): {reason}" if self.enforce else None
            decision = Decision(False, QUARANTINE_RULE, reason, actors)
            return replace(fallback, decision=decision, blocked=fallback.blocked or denial)
        reason = (
            f"version {version} is the version mlcp last set, the last authorized state: moving back there undoes a "
            "move made outside mlcp"
        )
        return replace(fallback, decision=Decision(True, RESTORE_RULE, reason, actors))
