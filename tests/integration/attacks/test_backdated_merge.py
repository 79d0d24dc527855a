"""A backdated commit merged cleanly: denied once, then allowed once the base moved past it.

Mallory, in no tenant, changes vision's pipeline image on a branch, dates the commit 2001 and merges it cleanly
(a clean merge is charged with nothing). The first plan charges her commit and denies it. Only a non-governance
change was denied, so `mlcp apply` records the merge as applied, and the next plan judges the file, unchanged
since, by its last writer. git log lists commits by committer date, so her 2001 commit came after the admin's
older commit of the file, the admin was taken for the last writer, and the same change was allowed with no new
commit. The last change is now decided by ancestry (`History._last_changes`).
"""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from controlplane.plans import Action, Change, Plan
from reconciler import engine
from tests.integration import configrepo
from tests.reconciler.fakes import FakeBackend

MALLORY = git.Actor("Mallory", "mallory@example.com")
"""Belongs to no tenant."""
OLD = "2001-01-01T00:00:00"

pytestmark = pytest.mark.integration


def _plan(repo: configrepo.ConfigRepo, applied: str) -> Plan:
    fakes = {s: FakeBackend(system=s, order=o, applied=applied) for s, o in (("mlflow", 10), ("kubernetes", 20))}
    planned, _ = engine.make_plan(
        engine.load_desired(repo.root),
        dict(fakes),  # type: ignore[arg-type]
        targets=repo.targets(None, trusted=False),
    )
    return planned


def _of(plan: Plan, source: str) -> list[Change]:
    found = [c for c in plan.changes if c.source == source and c.action is not Action.noop]
    assert found, f"no change from {source}"
    return found


def test_a_denied_change_stays_denied_after_the_base_moves_past_a_backdated_merge(tmp_path: Path) -> None:
    repo = configrepo.make(tmp_path, "zr")
    pipeline = f"tenants/{repo.vision}/pipelines/train-detector.yaml"
    repo.git.git.checkout("-q", "-b", "mallory")
    repo.edit(pipeline, "vision-data:1.3.0", "vision-data:6.6.6")
    repo.git.git.add(A=True)
    repo.git.index.commit("bump", author=MALLORY, committer=MALLORY, author_date=OLD, commit_date=OLD)
    repo.git.git.checkout("-q", "main")
    who = {"GIT_AUTHOR_NAME": "Mallory", "GIT_AUTHOR_EMAIL": MALLORY.email,
           "GIT_COMMITTER_NAME": "Mallory", "GIT_COMMITTER_EMAIL": MALLORY.email}  # fmt: skip
    repo.git.git.merge("--no-ff", "-q", "-m", "merge", "mallory", env=who)
    merge = repo.git.head.commit.hexsha

    first = _plan(repo, applied=repo.initial)
    for change in _of(first, pipeline):
        assert change.decision is not None and not change.decision.allowed, "sanity: the stranger is denied"
        assert change.decision.actors == ("mallory@example.com",)
    assert not any(c.blocked for c in first.changes if c.ref.system == "governance"), "so apply records the merge"

    second = _plan(repo, applied=merge)  # the revision apply recorded; nothing committed since
    for change in _of(second, pipeline):
        assert change.decision is not None
        assert not change.decision.allowed, f"allowed as {change.decision.actors}: {change.decision.reason}"
