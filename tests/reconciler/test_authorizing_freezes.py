"""The authorizer's freeze windows and quarantine, judged at an injected moment against a real git repo.

The trusted base holds a Friday-evening window in Berlin and a quarantined
version; the same promotion is held on Saturday, passes on Tuesday, a move
that heals drift is never held, and a promotion resolving to the quarantined
version is refused whatever the day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from controlplane.plans import Action, Change, ObjectRef, Plan, SpecKey
from reconciler import engine, trust
from reconciler.authorizing import FREEZE_RULE, QUARANTINE_RULE, PlanAuthorizer
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


def _authorize(repo: configrepo.ConfigRepo, now: datetime, version: str, drift: str | None = None) -> Change:
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
    authorizer = PlanAuthorizer(desired.repo, desired.revision, base.revision, base, clock=lambda: now)
    (judged,) = authorizer.authorize(Plan((change,), revision=desired.revision)).changes
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
