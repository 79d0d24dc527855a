"""Unit tests for the reads behind a promotion's evidence (mlflow_evidence), and what the review makes of them.

A canned registry stands in for MLflow, as in test_mlflow_review.py; the attack
test (tests/integration/attacks/test_borrowed_evidence.py) runs the same paths
against a real server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.plans import Action, Change, ObjectRef, SpecKey
from reconciler.backends.mlflow_evidence import MAX_HOPS
from reconciler.backends.mlflow_promotion import ModelInfo, Promotions
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest

OURS = frozenset({"7"})
"""Tenant t's experiments as mlcp records them."""
BORROWED = 0.987654
"""What the other tenant's run measured: it must appear nowhere."""
GATE = {"metric": "auc", "comparison": ">=", "threshold": 0.9}


class Registry(MlflowRest):
    """Versions, runs and LoggedModels by id; any other read fails the test."""

    def __init__(self, versions: dict[tuple[str, str], dict[str, Any]], runs: dict[str, str]) -> None:
        super().__init__("http://registry.invalid")
        self.versions = versions
        self.runs = runs  # run id -> its experiment id
        self.logged: dict[str, str | None] = {}

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        self.calls[path] += 1
        if path == "model-versions/get":
            found = self.versions.get((query["name"], query["version"]))
            if found is None:
                raise MlflowApiError(404, "RESOURCE_DOES_NOT_EXIST", "no such version")
            return {"model_version": found}
        if path == "runs/get":
            run_id = query["run_id"]
            info = {"run_id": run_id, "experiment_id": self.runs[run_id]} if self.runs[run_id] else {"run_id": run_id}
            return {"run": {"info": info, "data": {"metrics": [{"key": "auc", "value": BORROWED}]}}}
        if path.startswith("logged-models/"):
            return {"model": {"info": {"model_id": path.rpartition("/")[2], "source_run_id": self.logged[path[14:]]}}}
        raise AssertionError(path)


def _promotions(version: dict[str, Any], runs: dict[str, str], **others: dict[str, Any]) -> Promotions:
    versions = {("m", "5"): version, **{(name, "2"): found for name, found in others.items()}}
    promotions = Promotions(Registry(versions, runs))
    promotions.models = {"m": ModelInfo({"production": "3"}, {})}
    return promotions


def _review(promotions: Promotions, tenant: str | None = "t") -> Change:
    ref = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "m@production")
    want = {"model": "m", "alias": "production", "version": "5", "gates": [GATE]}
    change = Change(
        ref, Action.update, "paired", SpecKey.parse("ModelPromotion/t/p"), tenant, "p.yaml", 65, desired=want
    )
    return promotions.review(change, None, OURS)


def _shown(change: Change) -> str:
    """Everything the plan, its JSON and the audit could say of the change."""
    return json.dumps({"desired": change.desired, "blocked": change.blocked, "reason": change.reason}, default=str)


def test_the_tenants_own_run_is_judged() -> None:
    change = _review(_promotions({"run_id": "r1", "source": "runs:/r1/model"}, {"r1": "7"}))
    assert change.blocked is None
    assert change.desired is not None and change.desired["gates"][0]["measured"] == BORROWED


@pytest.mark.parametrize(
    ("experiment", "tenant", "said"),
    [
        ("8", "t", "it is in experiment 8, which mlcp does not record as tenant 't''s"),
        ("", "t", "MLflow did not say which experiment that run is in"),
        ("7", None, "the promotion names no tenant whose run it must be"),
    ],
)
def test_a_run_outside_the_tenant_is_refused_and_none_of_its_values_is_shown(
    experiment: str, tenant: str | None, said: str
) -> None:
    change = _review(_promotions({"run_id": "r9", "source": "s3://t/5/model"}, {"r9": experiment}), tenant)
    assert change.action is Action.update
    assert change.blocked is not None and said in change.blocked, change.blocked
    assert change.desired is not None and change.desired["gates"][0]["measured"] is None
    assert str(BORROWED) not in _shown(change) and "0.98" not in _shown(change)


def test_files_another_run_logged_are_refused_before_any_metric_is_taken() -> None:
    promotions = _promotions({"run_id": "r1", "source": "runs:/r2/model"}, {"r1": "7"})
    change = _review(promotions)
    assert change.blocked is not None and "its source names run r2, whose files run r2 logged" in change.blocked
    assert str(BORROWED) not in _shown(change)


def test_a_logged_models_source_run_must_be_the_judged_run() -> None:
    promotions = _promotions({"run_id": "r1", "source": "models:/m-1"}, {"r1": "7"})
    registry = promotions.rest
    assert isinstance(registry, Registry)
    registry.logged["m-1"] = "r1"
    assert _review(promotions).blocked is None
    promotions.evidence.forget()
    registry.logged["m-1"] = "r2"  # the registrant named her good run beside a LoggedModel another run logged
    assert "its source is LoggedModel m-1, whose files run r2 logged" in (_review(promotions).blocked or "")


def test_a_copy_is_followed_to_the_version_it_copies() -> None:
    copied = {"run_id": "r1", "source": "s3://t/2/model"}
    assert _review(_promotions({"run_id": "r1", "source": "models:/b/2"}, {"r1": "7"}, b=copied)).blocked is None
    inner = {"run_id": "r1", "source": "runs:/r2/model"}  # a copy of a version whose files another run logged
    blocked = _review(_promotions({"run_id": "r1", "source": "models:/b/2"}, {"r1": "7"}, b=inner)).blocked
    assert blocked is not None and "its source names run r2" in blocked
    other = {"run_id": "r2", "source": "s3://t/2/model"}
    blocked = _review(_promotions({"run_id": "r1", "source": "models:/b/2"}, {"r1": "7"}, b=other)).blocked
    assert blocked is not None and "a copy of version 2 of 'b', whose files run r2 logged" in blocked


def test_copies_past_the_limit_are_refused() -> None:
    loop = {"run_id": "r1", "source": "models:/b/2"}  # a copy of itself, as far as mlcp follows it
    blocked = _review(_promotions({"run_id": "r1", "source": "models:/b/2"}, {"r1": "7"}, b=loop)).blocked or ""
    assert "does not say which run logged its files" in blocked
    assert MAX_HOPS > 1


def test_a_run_or_copy_that_cannot_be_read_blocks() -> None:
    blocked = _review(_promotions({"run_id": "r1", "source": "models:/gone/2"}, {"r1": "7"})).blocked or ""
    assert blocked.startswith("cannot read version 5 of 'm': ")


def test_no_gates_read_no_run() -> None:
    promotions = _promotions({"run_id": "r9", "source": "s3://t/5/model"}, {"r9": "8"})
    ref = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "m@production")
    want = {"model": "m", "alias": "production", "version": "5"}
    change = Change(ref, Action.update, "paired", SpecKey.parse("ModelPromotion/t/p"), "t", "p.yaml", 65, desired=want)
    assert promotions.review(change, None, OURS).blocked is None
    assert promotions.rest.calls["runs/get"] == 0
