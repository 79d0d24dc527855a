"""A version's files as MLflow places them: MLflow 3's `models:/` and `runs:/` sources resolve to a location.

Canned answers stand in for the server; tests/integration/test_serving.py registers such versions on a real one.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.backends import mlflow_sources
from reconciler.backends.mlflow_promotion import ModelInfo, Promotions
from reconciler.backends.mlflow_rest import MlflowRest

LOGGED = "s3://vision-artifacts/1/models/m-5c1d/artifacts"
RUN_ROOT = "s3://vision-artifacts/1/0a1b2c/artifacts"


class CannedRest(MlflowRest):
    """MLflow's answers by (path, name/version or run_id); every question is recorded."""

    def __init__(self, answers: dict[tuple[str, str], dict[str, Any]]) -> None:
        super().__init__("http://registry.invalid")
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        key = (path, str(query.get("run_id") or f"{query.get('name')}/{query.get('version')}"))
        self.asked.append(key)
        return self.answers[key]


def _rest(download: str) -> CannedRest:
    return CannedRest(
        {
            ("model-versions/get-download-uri", "vision-detector/7"): {"artifact_uri": download},
            ("runs/get", "0a1b2c"): {"run": {"info": {"run_id": "0a1b2c", "artifact_uri": RUN_ROOT + "/"}}},
        }
    )


@pytest.mark.parametrize(
    ("source", "download", "expected"),
    [
        ("models:/m-5c1d", LOGGED, LOGGED),  # log_model(registered_model_name=...), MLflow 3
        ("models:/vision-detector-staging/2", LOGGED, LOGGED),  # copied from another version
        ("models:/vision-detector-staging/2", "runs:/0a1b2c/model", f"{RUN_ROOT}/model"),  # copied from a runs:/
        ("runs:/0a1b2c/model", "", f"{RUN_ROOT}/model"),  # register_model("runs:/...") by an older client
        ("runs:/0a1b2c", "", RUN_ROOT),
        ("s3://vision-artifacts/1/0a1b2c/artifacts/model", "", "s3://vision-artifacts/1/0a1b2c/artifacts/model"),
    ],
    ids=["logged-model", "copied", "copied-from-run", "run", "run-root", "a-location"],
)
def test_a_versions_source_is_where_mlflow_keeps_its_files(source: str, download: str, expected: str) -> None:
    rest = _rest(download)
    found = mlflow_sources.location(rest, "vision-detector", "7", {"source": source, "run_id": "0a1b2c"})
    assert found == expected


def test_a_location_is_not_asked_about_and_a_missing_source_is_none() -> None:
    rest = _rest("")
    assert mlflow_sources.location(rest, "m", "7", {"source": "gs://b/m/7"}) == "gs://b/m/7"
    assert mlflow_sources.location(rest, "m", "7", {}) is None
    assert rest.asked == []


@pytest.mark.parametrize("source", ["runs://databricks/0a1b2c/model", "runs:/", "models:/m-gone"])
def test_a_reference_mlflow_cannot_place_comes_back_as_it_is(source: str) -> None:
    """Served as it is it never loads: serving says so (reconciler/serving.py), naming it."""
    rest = _rest("")
    assert mlflow_sources.location(rest, "vision-detector", "7", {"source": source}) == source


def test_the_promotion_resolves_a_logged_models_version_once_per_plan() -> None:
    rest = CannedRest(
        {
            ("model-versions/get", "vision-detector/7"): {"model_version": {"source": "models:/m-5c1d"}},
            ("model-versions/get-download-uri", "vision-detector/7"): {"artifact_uri": LOGGED},
        }
    )
    promotions = Promotions(rest)
    promotions.models = {"vision-detector": ModelInfo({"staging": "7"}, {})}
    alias = {"model": "vision-detector", "alias": "production", "fromAlias": "staging"}
    assert promotions.resolve_version(alias) == ("7", LOGGED, "models:/m-5c1d")
    assert promotions.resolve_version(alias) == ("7", LOGGED, "models:/m-5c1d")
    assert rest.asked.count(("model-versions/get-download-uri", "vision-detector/7")) == 1
    promotions.forget()
    promotions.models = {"vision-detector": ModelInfo({"staging": "7"}, {})}
    promotions.resolve_version(alias)
    assert rest.asked.count(("model-versions/get-download-uri", "vision-detector/7")) == 2, "asked again next plan"
