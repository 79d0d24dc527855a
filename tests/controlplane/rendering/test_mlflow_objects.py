"""Registry-side rendering: experiments and promotions as MLflow objects, serving as a KServe InferenceService."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controlplane.loading.repo import load_repo
from controlplane.plans import DesiredObject, ObjectRef
from controlplane.rendering import RenderContext, render
from controlplane.rendering.mlflow_objects import AliasRef

ROOT = Path(__file__).resolve().parents[3]


def _objects(commits: dict[str, str] | None = None) -> list[DesiredObject]:
    return render(RenderContext(load_repo(ROOT / "repo_template"), commits=commits or {}))


def test_experiments_become_mlflow_experiments_with_ownership_tags() -> None:
    commits = {"tenants/nlp/experiments/sentiment.yaml": "c0ffee"}
    experiments = {o.ref.name: o for o in _objects(commits) if o.ref.system == "mlflow" and o.ref.kind == "Experiment"}
    assert sorted(experiments) == ["nlp/sentiment", "vision/detector"]
    tags = experiments["nlp/sentiment"].manifest["tags"]
    assert tags["mlcp.dev/managed-by"] == "mlcp"
    assert tags["mlcp.dev/tenant"] == "nlp"
    assert tags["mlcp.dev/managed-tags"] == "team"
    assert tags["mlcp.dev/source-commit"] == "c0ffee"
    assert experiments["vision/detector"].manifest["description"] == "Object detector training runs."


def test_promotion_becomes_an_alias_and_an_inference_service() -> None:
    objects = [o for o in _objects() if str(o.spec) == "ModelPromotion/vision/detector-production"]
    by_kind = {o.ref.kind: o for o in objects}
    alias = by_kind["ModelAlias"]
    assert (alias.ref.system, alias.ref.name) == ("mlflow", "vision-detector@production")
    assert alias.manifest["fromAlias"] == "staging"
    assert alias.manifest["gates"][0] == {"metric": "val_map", "comparison": ">=", "threshold": 0.6}
    service = by_kind["InferenceService"]
    assert service.ref.namespace == "vision"
    assert "storageUri" not in service.manifest["spec"]["predictor"]["model"], "the engine fills it from the registry"
    assert service.manifest["metadata"]["annotations"]["mlcp.dev/serves-alias"] == "vision-detector@production"


def test_canary_renders_the_predictors_canary_traffic_percent_and_an_explicit_uri_is_a_claim(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "repo_template", root)
    promotion = root / "tenants/vision/promotions/detector-production.yaml"
    text = promotion.read_text()
    promotion.write_text(text + "    storageUri: gs://models/detector/7\n    canary:\n      trafficPercent: 10\n")
    objects = render(RenderContext(load_repo(root), commits={}))
    (service,) = [o for o in objects if o.ref.kind == "InferenceService"]
    assert service.manifest["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert service.manifest["spec"]["predictor"]["model"]["storageUri"] == "gs://models/detector/7"
    assert service.manifest["metadata"]["annotations"]["mlcp.dev/serves-alias"] == "vision-detector@production", (
        "an explicit location is a claim the engine holds to the alias's version, never an override"
    )


def test_a_canary_percent_out_of_range_is_a_load_error(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "repo_template", root)
    promotion = root / "tenants/vision/promotions/detector-production.yaml"
    promotion.write_text(promotion.read_text() + "    canary:\n      trafficPercent: 150\n")
    repo = load_repo(root)
    problems = [str(d) for d in repo.diagnostics]
    assert any("detector-production.yaml" in p and "trafficPercent" in p and "100" in p for p in problems), problems


def test_an_alias_ref_is_typed_and_keeps_the_name_plans_and_inventories_use() -> None:
    ref = AliasRef("team@vision-detector", "production").ref()
    assert ref.name == "team@vision-detector@production", "`models:/` syntax, as saved plans hold it"
    assert AliasRef.of(ref) == AliasRef("team@vision-detector", "production"), "the last @ separates the alias"
    with pytest.raises(ValueError, match="not a model alias"):
        AliasRef.of(ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "a@b"))
