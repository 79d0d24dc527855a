"""Registry writes and the fence, against the real MLflow: a lease lost mid-move, and a race for the alias.

The stand-in registry in tests/reconciler/backends/test_mlflow_fencing.py hangs and fails on cue; here the
registry is real: the lease runs out the moment the alias has moved, and someone else moves the alias in the
instant after mlcp did. Neither may end as a success, and neither may write anything after the fact.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from reconciler import connecting, engine
from reconciler.applying import apply_plan, unchecked
from reconciler.backends.base import ApplyOptions, Outcome, Status
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_rest import MlflowRest
from reconciler.fencing import NOT_ATTEMPTED, Fence, FencedBackend
from tests.integration import configrepo
from tests.integration.attacks import gitattack
from tests.integration.mlflow_rest import MlflowRest as Rest

pytestmark = pytest.mark.integration
ALIAS_TAG = "mlcp.dev/alias.production.by"


def _model_tags(rest: Rest, model: str) -> dict[str, str]:
    found = rest.get("registered-models/get", name=model)["registered_model"]
    return {t["key"]: t["value"] for t in found.get("tags") or []}


def test_a_lease_lost_the_moment_the_alias_moved_stops_every_write_after_it(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = configrepo.make(tmp_path, prefix)
    rest = Rest(mlflow_uri)
    gitattack.register_model(rest, repo)  # staging at 1: the template promotes 1 to production
    lost = threading.Event()
    post = MlflowRest.post

    def moving_loses_the_lease(self: MlflowRest, path: str, **body: Any) -> dict[str, Any]:
        answer = post(self, path, **body)
        if path == "registered-models/alias" and body.get("alias") == "production":
            lost.set()  # another replica's clock: from now on this one holds nothing
        return answer

    monkeypatch.setattr(MlflowRest, "post", moving_loses_the_lease)
    fence = Fence(leading=lambda: not lost.is_set(), remaining=lambda: 0.0 if lost.is_set() else 30.0)
    desired = engine.load_desired(repo.root)
    targets = repo.targets(kubeconfig, mlflow_uri)
    backends = connecting.connect(desired.repo, targets)
    plan, _ = engine.make_plan(desired, backends, targets=targets)
    outcomes: list[Outcome] = []
    fenced = {name: FencedBackend(backend, fence) for name, backend in backends.items()}
    apply_plan(plan, fenced, ApplyOptions(), progress=outcomes.append, authorize=unchecked)

    aliases = [o for o in outcomes if o.change.ref.kind == "ModelAlias"]
    assert [o.change.ref.name for o in aliases] == [f"{prefix}-vision-detector@production"], [
        (o.change.ref.name, o.change.action.value, o.change.tenant) for o in aliases
    ]  # one alias, this repo's: never another test's (one MLflow serves the session)
    [moved] = aliases
    assert moved.status is Status.failed and "was not sent" in moved.message, moved.message
    assert gitattack.alias(rest, repo.model) == "1", "the move itself went out in time"
    assert ALIAS_TAG not in _model_tags(rest, repo.model), "nothing recorded after the lease ran out"
    registry = backends["mlflow"]
    assert isinstance(registry, MlflowBackend) and registry.rest.calls["registered-models/set-tag"] == 0
    cluster = [o for o in outcomes if o.change.ref.system == "kubernetes"]
    # no cluster write either: the fence refused each, or the serving change was not written since its alias
    # move did not apply (apply_order.prerequisite)
    assert cluster and all(o.status is Status.skipped for o in cluster)
    assert all(o.message.startswith((NOT_ATTEMPTED, "not written: the alias move")) for o in cluster)
    assert any(o.message.startswith(NOT_ATTEMPTED) for o in cluster)


def test_an_alias_moved_by_someone_else_in_the_same_instant_is_a_conflict_in_the_audit_log(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, rest = op.repo.repo, Rest(mlflow_uri)
    gitattack.register_model(rest, repo)
    post = MlflowRest.post

    def racing(self: MlflowRest, path: str, **body: Any) -> dict[str, Any]:
        answer = post(self, path, **body)
        if path == "registered-models/alias" and body.get("alias") == "production":
            rest.post("registered-models/alias", name=repo.model, alias="production", version="2")  # someone else
        return answer

    monkeypatch.setattr(MlflowRest, "post", racing)
    audit = tmp_path / "race.jsonl"
    result = op.apply(audit)
    said = gitattack.said(result)
    assert result.exit_code == 1 and f"conflict: {repo.model}@production is at 2" in said, gitattack.explain(result)
    assert gitattack.alias(rest, repo.model) == "2", "mlcp did not move it back"
    assert ALIAS_TAG not in _model_tags(rest, repo.model), "nor recorded the promotion as its own"
    [record] = [r for r in op.records(audit, "--kind", "ModelAlias") if r["result"] == "failed"]
    assert "conflict" in (record.get("error") or record.get("reason") or "")
    assert op.verified(audit)
