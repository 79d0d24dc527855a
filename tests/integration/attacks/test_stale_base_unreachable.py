"""A stale --trusted-base judged whenever the cluster could not be read.

The admin took Experiment out of tenant-developer's kinds and applied it; bob then edits vision's MLflow
experiment. Judged by the applied revision, his change is denied. MLCP_TRUSTED_BASE was left set to the bootstrap
commit, which the applied revision descends from: stale, so the applied revision wins. But the applied revision
is kept only in the cluster, and with the API server unreachable mlcp took "nothing applied" for the truth: the
stale base judged, allowed bob's change under the old rules, and its registry write could be applied. Now the
plan is refused while the applied revision cannot be read; a registry that is down changes nothing of that.
"""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from controlplane.errors import MlcpError
from controlplane.plans import Action, Plan
from reconciler import engine
from tests.integration import configrepo
from tests.reconciler.fakes import FakeBackend

pytestmark = pytest.mark.integration

BOB = git.Actor("Bob", "bob@example.com")


def _plan(repo: configrepo.ConfigRepo, applied: str, kube_down: bool = False, registry_down: bool = False) -> Plan:
    kube = FakeBackend(system="kubernetes", order=20, applied=applied, unreachable=kube_down)
    registry = FakeBackend(system="mlflow", order=10, unreachable=registry_down)  # keeps no revision
    planned, _ = engine.make_plan(
        engine.load_desired(repo.root),
        {"mlflow": registry, "kubernetes": kube},  # type: ignore[dict-item]
        targets=repo.targets(None, trusted=True),  # MLCP_TRUSTED_BASE: the bootstrap commit, left set
    )
    return planned


def test_a_stale_named_base_never_judges_while_the_applied_revision_cannot_be_read(tmp_path: Path) -> None:
    repo = configrepo.make(tmp_path, "sb")
    repo.edit(
        "policies/access.yaml", "kinds: [Pipeline, Experiment, ModelPromotion]", "kinds: [Pipeline, ModelPromotion]"
    )
    applied = repo.commit("tenants no longer change experiments")
    repo.edit(f"tenants/{repo.vision}/experiments/detector.yaml", "Object detector training runs.", "bob was here")
    repo.commit("bob edits vision's experiment", BOB)

    reachable = _plan(repo, applied)
    assert reachable.meta["trustedBase"]["revision"] == applied, "the applied revision wins over the stale one"
    bobs = [
        c
        for c in reachable.changes
        if c.source and c.source.endswith("experiments/detector.yaml") and c.action is not Action.noop
    ]
    assert bobs and all(c.decision and not c.decision.allowed for c in bobs)

    with pytest.raises(MlcpError, match="the last applied revision cannot be read: kubernetes"):
        _plan(repo, applied, kube_down=True)

    registry_down = _plan(repo, applied, registry_down=True)  # the registry keeps no revision: judged as before
    assert registry_down.meta["trustedBase"]["revision"] == applied
