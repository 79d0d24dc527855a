"""Authorizing a plan: every pending change gets a Decision, and denied ones are blocked.

Identity comes from git (reconciler.identity), rules from the repo's
AccessPolicy (controlplane.policy). Denied changes stay in the plan, marked, so
a reviewer sees them; apply skips them while the allowed changes of the same
revision still go ahead.
"""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from controlplane.loading.repo import ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import Action, Change, Decision, Plan
from controlplane.policy import approvals
from controlplane.policy.authorizer import Authorizer
from controlplane.specs import AccessPolicy, ModelPromotion, Tenant
from reconciler.identity import History, open_history

SIGNED_RULE = "requireSignedCommits"


def spec_identity(change: Change) -> tuple[str, str | None]:
    """(kind, tenant) of the spec behind a change, from its `Kind/tenant/name` key."""
    parts = (change.spec or "").split("/")
    kind = parts[0] if parts and parts[0] else "*"
    return kind, change.tenant if change.tenant is not None else (parts[1] if len(parts) == 3 else None)


class PlanAuthorizer:
    """Decides, for one desired revision and base, which changes may be applied."""

    def __init__(self, repo: ConfigRepo, revision: str | None, base: str | None, enforce: bool = True) -> None:
        self.enforce = enforce
        policies = repo.of_kind("AccessPolicy")
        self.policy = cast(AccessPolicy, policies[0].spec) if policies else None
        tenants = {s.tenant: cast(Tenant, s.spec) for s in repo.of_kind("Tenant") if s.tenant}
        self.authorizer = Authorizer(self.policy, tenants)
        self.specs: dict[str, LoadedSpec] = {str(s.key): s for s in repo.specs}
        self.require_signed = bool(self.policy and self.policy.spec.require_signed_commits)
        signers = repo.root / self.policy.spec.allowed_signers_file if self.policy else None
        keys = signers if signers is not None and signers.is_file() else None
        self.history: History | None = (
            open_history(repo.root, revision, base, self.require_signed, keys) if revision else None
        )
        self._trailers: list[tuple[str, str]] | None = None
        self._decided: dict[tuple[str | None, str | None, Action], Decision] = {}
        self.dirty = self.history.uncommitted() if self.history else set()

    def _trailers_once(self) -> list[tuple[str, str]]:
        if self._trailers is None:
            self._trailers = self.history.approvals(approvals.TRAILER) if self.history else []
        return self._trailers

    def decide(self, change: Change) -> Decision:
        """The decision for a change; the objects one spec renders to share it (it depends only on the spec
        file's authorship, the spec and the action), so it is reached once per spec and action."""
        key = (change.source, change.spec, change.action)
        decided = self._decided.get(key)
        if decided is None:
            decided = self._decided[key] = self._decide(change)
        return decided

    def _decide(self, change: Change) -> Decision:
        if self.history is None:
            return Decision(False, "default-deny", "not a git repository: no identity to authorize")
        kind, tenant = spec_identity(change)
        if change.source in self.dirty:
            return Decision(
                False, "uncommitted", f"{change.source} has uncommitted changes: no commit vouches for them"
            )
        authorship = self.history.authorship([change.source] if change.source else [])
        if self.require_signed and authorship.problems:
            return Decision(False, SIGNED_RULE, "; ".join(authorship.problems), authorship.actors)
        decision = self.authorizer.decide(authorship.actors, change.action.value, kind, tenant)
        if not decision.allowed or kind != "ModelPromotion" or change.action is Action.delete:
            return decision
        return self._approved(change, decision, authorship.actors)

    def _approved(self, change: Change, decision: Decision, authors: tuple[str, ...]) -> Decision:
        loaded = self.specs.get(change.spec or "")
        if loaded is None:
            return decision
        required = cast(ModelPromotion, loaded.spec).spec.required_approvals
        if required == 0:
            return decision
        trailers = self._trailers_once()
        eligible = self.authorizer.approvers("ModelPromotion", loaded.tenant, {who for who, _ in trailers})
        result = approvals.count(loaded, required, trailers, authors, eligible)
        reason = result.summary() + (f" [ignored: {'; '.join(result.ignored)}]" if result.ignored else "")
        if result.missing:
            return Decision(False, "approvals", reason, decision.actors)
        return Decision(True, decision.rule, f"{decision.reason}; {reason}", decision.actors)

    def authorize(self, plan: Plan) -> Plan:
        changes = []
        for change in plan.changes:
            if change.action is Action.noop:
                changes.append(change)
                continue
            decision = self.decide(change)
            denial = None if decision.allowed or not self.enforce else f"denied ({decision.rule}): {decision.reason}"
            blocked = change.blocked or denial
            changes.append(replace(change, decision=decision, blocked=blocked))
        return replace(plan, changes=tuple(changes))
