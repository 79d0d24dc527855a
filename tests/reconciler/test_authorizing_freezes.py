"""The authorizer's freeze windows and quarantine, judged at an injected moment against a real git repo.

The trusted base holds a Friday-evening window in Berlin and a quarantined
version; the same promotion is held on Saturday, passes on Tuesday, a move
that heals drift is never held, and a promotion resolving to the quarantined
version is refused whatever the day. A promotion that may not go ahead while its
alias was moved outside mlcp gives way to the move back to the version mlcp last
set, which no window holds.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controlplane.plans import Action, Change, ObjectRef, Plan, SpecKey
from reconciler import engine, trust
from reconciler.authorizing import FREEZE_RULE, QUARANTINE_RULE, RESTORE_RULE, PlanAuthorizer
from reconciler.settling import settled
from tests.integration import configrepo

SATURDAY = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = """  freezeWindows:
    - name: weekend
      cron: "0 18 * * 5"
      duration: 62h
      timeZone: Europe/Berlin
  quarantine:
    - model: MODEL
      versions: [7]
      reason: trained on leaked data
"""


@pytest.fixture
def repo(tmp_path: Path) -> configrepo.ConfigRepo:
    repo = configrepo.make(tmp_path, "t")
    policy = repo.path("policies/access.yaml")
    policy.write_text(policy.read_text(encoding="utf-8") + RULES.replace("MODEL", repo.model), encoding="utf-8")
    repo.initial = repo.commit("a weekend freeze and a quarantined version")
    return repo


def _authorize(
    repo: configrepo.ConfigRepo, now: datetime, version: str, drift: str | None = None, back: str | None = None
) -> Change:
    """The promotion's alias change to `version`, judged at `now`; with `back`, carrying the move back there."""
    desired = engine.load_desired(repo.root)
    base = trust.load(repo.root, repo.initial, "operator")
    spec = SpecKey("ModelPromotion", repo.vision, "detector-production")
    change = Change(
        ref=ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, f"{repo.model}@production"),
        action=Action.update,
        reason="moves",
        spec=spec,
        tenant=repo.vision,
        source=f"tenants/{repo.vision}/promotions/detector-production.yaml",
        rank=65,
        desired={"model": repo.model, "alias": "production", "version": version},
        drift=drift,
    )
    if back is not None:
        restore = {"model": repo.model, "alias": "production", "version": back}
        change = replace(change, fallback=replace(change, reason="moves it back", desired=restore, drift="by hand"))
    authorizer = PlanAuthorizer(desired.repo, desired.revision, base.revision, base, clock=lambda: now)
    (judged,) = settled(authorizer.authorize(Plan((change,), revision=desired.revision))).changes
    return judged


def test_a_promotion_is_held_during_the_window_and_passes_after_it(repo: configrepo.ConfigRepo) -> None:
    held = _authorize(repo, SATURDAY, "5")
    assert held.decision is not None and held.decision.rule == FREEZE_RULE
    assert held.blocked is not None
    assert held.blocked.startswith("held by window weekend until 2026-11-30 07:00 UTC (08:00 Europe/Berlin)")
    assert "override: 0 of 1 approval(s)" in held.blocked
    passed = _authorize(repo, TUESDAY, "5")
    assert passed.blocked is None and passed.decision is not None and passed.decision.allowed


def test_moving_a_hand_moved_alias_back_is_not_held(repo: configrepo.ConfigRepo) -> None:
    healed = _authorize(repo, SATURDAY, "5", drift="moved outside mlcp to version 4")
    assert healed.blocked is None and healed.decision is not None
    assert "heals drift, not held by freeze windows" in healed.decision.reason


def test_a_quarantined_version_is_refused_whatever_the_day(repo: configrepo.ConfigRepo) -> None:
    for now in (SATURDAY, TUESDAY):
        refused = _authorize(repo, now, "7")
        assert refused.decision is not None and refused.decision.rule == QUARANTINE_RULE
        assert "version 7 of" in (refused.blocked or "") and "quarantined by the policy (trained on leaked data)" in (
            refused.blocked or ""
        )
    assert _authorize(repo, TUESDAY, "6").blocked is None, "another version of the same model passes"


def test_a_held_promotion_gives_way_to_the_move_back_to_mlcps_last_version(repo: configrepo.ConfigRepo) -> None:
    restored = _authorize(repo, SATURDAY, "5", back="4")
    assert restored.desired is not None and restored.desired["version"] == "4" and restored.blocked is None
    assert restored.decision is not None and restored.decision.allowed and restored.decision.rule == RESTORE_RULE
    assert restored.reason.startswith("moves it back (held by window weekend until 2026-11-30 07:00 UTC")
    assert "instead of the declared change, which may not go ahead (held by window weekend" in restored.decision.reason
    assert restored.fallback is None
    promoted = _authorize(repo, TUESDAY, "5", back="4")
    assert promoted.desired is not None and promoted.desired["version"] == "5" and promoted.blocked is None
    assert promoted.fallback is None, "a settled plan carries no fallback"


def test_a_version_the_policy_quarantined_since_is_not_gone_back_to(repo: configrepo.ConfigRepo) -> None:
    refused = _authorize(repo, SATURDAY, "5", back="7")
    assert refused.desired is not None and refused.desired["version"] == "7"
    assert refused.decision is not None and refused.decision.rule == QUARANTINE_RULE
    assert "the version mlcp last set, is quarantined by the policy since" in (refused.blocked or "")


def _judged(repo: configrepo.ConfigRepo, change: Change, now: datetime) -> Change:
    desired = engine.load_desired(repo.root)
    base = trust.load(repo.root, repo.initial, "operator")
    authorizer = PlanAuthorizer(desired.repo, desired.revision, base.revision, base, clock=lambda: now)
    (judged,) = settled(authorizer.authorize(Plan((change,), revision=desired.revision))).changes
    return judged


def _production_gone(repo: configrepo.ConfigRepo) -> Change:
    """The delete of the promotion's production alias (with --prune), attributed to the promotion by mlcp's record."""
    return Change(
        ref=ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, f"{repo.model}@production"),
        action=Action.delete,
        reason="removed from git",
        spec=SpecKey("ModelPromotion", repo.vision, "detector-production"),
        tenant=repo.vision,
        source=f"tenants/{repo.vision}/promotions/detector-production.yaml",
        rank=65,
    )


def test_removing_the_protected_alias_is_held_too(repo: configrepo.ConfigRepo) -> None:
    """Only moves were held: during the weekend freeze, deleting the promotion (with --prune) removed production
    from the model, and its serving with it."""
    repo.path(f"tenants/{repo.vision}/promotions/detector-production.yaml").unlink()
    repo.commit("no more production")
    held = _judged(repo, _production_gone(repo), SATURDAY)
    assert held.decision is not None and held.decision.rule == FREEZE_RULE, held.decision
    assert (held.blocked or "").startswith("held by window weekend until 2026-11-30 07:00 UTC")
    assert "keep it until the window closes" in (held.blocked or "")
    assert _judged(repo, _production_gone(repo), TUESDAY).blocked is None


def test_renaming_the_promoted_alias_is_held_for_the_alias_it_leaves(repo: configrepo.ConfigRepo) -> None:
    """The spec now promotes `staging`, which no window protects; the production alias it leaves was removed."""
    repo.edit(f"tenants/{repo.vision}/promotions/detector-production.yaml", "alias: production", "alias: staging-2")
    repo.commit("promote elsewhere")
    held = _judged(repo, _production_gone(repo), SATURDAY)
    assert held.decision is not None and held.decision.rule == FREEZE_RULE, held.decision
    assert (held.blocked or "").startswith("held by window weekend")
