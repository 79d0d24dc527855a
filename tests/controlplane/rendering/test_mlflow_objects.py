"""Registry-side rendering: experiments and promotions as MLflow objects, serving as a KServe InferenceService."""

from __future__ import annotations

from pathlib import Path

from controlplane.loading.repo import load_repo
from controlplane.plans import DesiredObject
from controlplane.rendering import RenderContext, render

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
    objects = [o for o in _objects() if o.spec == "ModelPromotion/vision/detector-production"]
    by_kind = {o.ref.kind: o for o in objects}
    alias = by_kind["ModelAlias"]
    assert (alias.ref.system, alias.ref.name) == ("mlflow", "vision-detector@production")
    assert alias.manifest["fromAlias"] == "staging"
    assert alias.manifest["gates"][0] == {"metric": "val_map", "comparison": ">=", "threshold": 0.6}
    service = by_kind["InferenceService"]
    assert service.ref.namespace == "vision"
    assert service.manifest["spec"]["predictor"]["model"]["storageUri"] == "models:/vision-detector@production"
