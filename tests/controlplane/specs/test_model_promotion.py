"""ModelPromotion: exactly one source of the version, gates and serving as declared."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render
from controlplane.rendering.mlflow_objects import alias_tag, version_tag
from controlplane.specs import ModelPromotion
from controlplane.specs.model_promotion import ALIAS_MAX
from tests.controlplane.helpers import assert_problem, edit, line_of, problems

PROMOTION = "tenants/vision/promotions/detector-production.yaml"


def test_template_promotion_reads_gates_and_serving(template: Any) -> None:
    promotion = ModelPromotion.model_validate(template(PROMOTION))
    assert (promotion.spec.from_alias, promotion.spec.version) == ("staging", None)
    assert [(g.metric, g.comparison, g.threshold) for g in promotion.spec.gates] == [
        ("val_map", ">=", 0.6),
        ("latency_p95_ms", "<=", 120.0),
    ]
    assert promotion.spec.serving is not None
    assert promotion.spec.serving.model_format == "mlflow"


@pytest.mark.parametrize(
    ("version", "from_alias"),
    [(3, "staging"), (None, None)],
    ids=["both", "neither"],
)
def test_exactly_one_of_version_and_from_alias(template: Any, version: int | None, from_alias: str | None) -> None:
    data = template(PROMOTION)
    data["spec"].pop("fromAlias")
    data["spec"].update({k: v for k, v in (("version", version), ("fromAlias", from_alias)) if v is not None})
    with pytest.raises(ValidationError, match="set exactly one of `version`"):
        ModelPromotion.model_validate(data)


def test_only_serving_bounds_the_name_by_the_spec_label(template: Any) -> None:
    data = template(PROMOTION)  # serves: an InferenceService labelled `mlcp.dev/spec: ModelPromotion.<name>`
    data["metadata"]["name"] = "p" * 48
    assert ModelPromotion.model_validate(data).name == "p" * 48
    data["metadata"]["name"] = "p" * 49
    with pytest.raises(ValidationError, match="at most 48 fit"):
        ModelPromotion.model_validate(data)
    data["spec"].pop("serving")  # the alias alone is MLflow's: no label to fit
    assert ModelPromotion.model_validate(data).name == "p" * 49


def test_a_fixed_version_alone_is_fine(template: Any) -> None:
    data = template(PROMOTION)
    data["spec"].pop("fromAlias")
    data["spec"]["version"] = 4
    assert ModelPromotion.model_validate(data).spec.version == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fromAlias": "production"}, "`fromAlias` must differ from `alias`"),
        ({"requiredApprovals": -1}, "greater than or equal to 0"),
        ({"gates": [{"metric": "auc", "comparison": "~", "threshold": 1}]}, "'>', '>='"),
        ({"serving": {"maxReplicas": 0}}, "greater than or equal to 1"),
        ({"serving": {"resources": {"cpu": "lots"}}}, "is not a Kubernetes quantity"),
    ],
)
def test_invalid_promotions_are_refused(template: Any, change: dict[str, Any], message: str) -> None:
    data = template(PROMOTION)
    data["spec"].update(change)
    with pytest.raises(ValidationError, match=message):
        ModelPromotion.model_validate(data)


@pytest.mark.parametrize("alias", ["champion", "champion-2", "stage_1", "v", "vx2", "version2", "latest-good", "prod"])
def test_aliases_mlflow_accepts_are_accepted(template: Any, alias: str) -> None:
    data = template(PROMOTION)
    data["spec"]["alias"] = alias
    assert ModelPromotion.model_validate(data).spec.alias == alias


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("latest", "reserves 'latest'"),  # MLflow's _validate_model_alias_name_reserved
        ("Latest", "reserves 'latest'"),
        ("v2", "reserves v<N>"),
        ("V10", "reserves v<N>"),
        ("a@b", "only letters, digits"),  # and `<model>@<alias>` names would split at the wrong `@`
        ("has space", "only letters, digits"),
        ("prod.1", "only letters, digits"),
        ("prod\n", "only letters, digits"),
        ("", "at least 1 character"),
        ("a" * (ALIAS_MAX + 1), f"at most {ALIAS_MAX} fit"),
    ],
)
@pytest.mark.parametrize("field", ["alias", "fromAlias"])
def test_aliases_mlflow_refuses_are_refused(template: Any, field: str, alias: str, message: str) -> None:
    data = template(PROMOTION)
    data["spec"][field] = alias
    with pytest.raises(ValidationError, match=re.escape(message)):
        ModelPromotion.model_validate(data)


def test_the_longest_alias_fits_every_tag_key_mlcp_records_it_in() -> None:
    alias = "a" * ALIAS_MAX
    keys = [version_tag(alias, "previous-version"), alias_tag(alias, "previous-version")]
    assert max(len(key) for key in keys) == 250  # MLflow's MAX_MODEL_REGISTRY_TAG_KEY_LENGTH


@pytest.mark.parametrize("model", ["vision-a/b", "vision:b"])
def test_a_model_name_mlflow_refuses_is_refused(template: Any, model: str) -> None:
    data = template(PROMOTION)
    data["spec"]["model"] = model
    with pytest.raises(ValidationError, match="MLflow refuses '/' and ':'"):
        ModelPromotion.model_validate(data)


def test_an_alias_problem_is_reported_at_its_line(repo: Path) -> None:
    edit(repo, PROMOTION, "  alias: production\n", '  alias: "prod@eu"\n')
    assert_problem(repo, PROMOTION, 8, "alias 'prod@eu': MLflow allows only letters, digits, '_' and '-'")


def test_a_served_name_kserve_refuses_is_refused_before_the_alias_moves(repo: Path) -> None:
    """KServe's webhook refuses an InferenceService named `2024-detector`; the alias move, applied first, had
    already happened (a partial apply)."""
    edit(repo, PROMOTION, "  name: detector-production\n", "  name: 2024-detector\n")
    (repo / PROMOTION).rename(repo / "tenants/vision/promotions/2024-detector.yaml")
    found = assert_problem(
        repo, "tenants/vision/promotions/2024-detector.yaml", 5, "ModelPromotion '2024-detector' must start with a"
    )
    assert "KServe" in found.message and found.hint


def test_a_promotion_without_serving_may_start_with_a_digit(repo: Path) -> None:
    """The rule is KServe's: a promotion that renders no InferenceService moves an alias only."""
    edit(repo, PROMOTION, "  name: detector-production\n", "  name: 2024-detector\n")
    text = (repo / PROMOTION).read_text()
    (repo / PROMOTION).write_text(text[: text.index("  serving:\n")])
    (repo / PROMOTION).rename(repo / "tenants/vision/promotions/2024-detector.yaml")
    assert problems(repo) == []


@pytest.mark.parametrize(
    "uri", ["models:/vision-detector/3", "mlflow-artifacts:/1/abc/artifacts/model", "file:///etc", "s3://"]
)
def test_an_explicit_storage_uri_kserve_cannot_load_is_refused_at_its_line(repo: Path, uri: str) -> None:
    """Refused only by KServe's storage initializer, after the alias moved; resolved from the registry the same
    location was already a plan problem."""
    edit(repo, PROMOTION, "    modelFormat: mlflow\n", f"    modelFormat: mlflow\n    storageUri: '{uri}'\n")
    found = assert_problem(repo, PROMOTION, 20, f"storageUri {uri!r}: KServe's storage initializer cannot load it")
    assert "s3://" in found.message


def test_the_predictor_is_limited_as_it_requests(repo: Path) -> None:
    """Only requests were rendered: the LimitRange's default limit (cpu 1) or KServe's filled the limit below a
    request of 2, and the API server refused every predictor pod."""
    edit(repo, PROMOTION, "    maxReplicas: 3\n", "    maxReplicas: 3\n    resources: {cpu: '2', memory: 2Gi}\n")
    assert problems(repo) == []
    [service] = [o for o in render(RenderContext(load_repo(repo), commits={})) if o.ref.kind == "InferenceService"]
    assert service.manifest["spec"]["predictor"]["model"]["resources"] == {
        "requests": {"cpu": "2", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }


def test_a_predictor_the_quota_cannot_hold_is_refused_at_the_field(repo: Path) -> None:
    edit(repo, PROMOTION, "    minReplicas: 1\n", "    minReplicas: 2\n    resources: {cpu: '2', memory: 100Gi}\n")
    found = assert_problem(repo, PROMOTION, 21, "the predictor needs memory 100Gi x 2 replicas, more than the tenant")
    assert "requests.memory: 128Gi" in found.message and "raise requests.memory" in found.hint


def test_a_predictor_outside_the_limit_range_is_refused_at_the_field(repo: Path) -> None:
    edit(repo, "tenants/vision/quota.yaml", "  limitRange:\n", "  limitRange:\n    max: {cpu: '12'}\n")
    edit(repo, PROMOTION, "    maxReplicas: 3\n", "    maxReplicas: 3\n    resources: {cpu: '16'}\n")
    found = assert_problem(repo, PROMOTION, 22, "the predictor asks for cpu 16, above the most the tenant's quota")
    assert "limitRange.max cpu: 12" in found.message


@pytest.mark.parametrize(
    "key",
    [
        "serving.kserve.io/deploymentMode",
        "serving.kserve.io/storage-initializer-uri",
        "autoscaling.knative.dev/max-scale",
        "networking.knative.dev/visibility",
        "sidecar.istio.io/inject",
    ],
)
def test_annotations_kserve_obeys_are_refused_at_their_line(repo: Path, key: str) -> None:
    """Spec annotations are copied onto the InferenceService, where KServe (and Knative, Istio behind it) read
    them as settings no field of the spec allows."""
    path = edit(
        repo, PROMOTION, "  name: detector-production\n", f"  name: detector-production\n  annotations:\n    {key}: x\n"
    )
    found = assert_problem(repo, PROMOTION, line_of(path, key), f"annotation key {key!r} is ")
    assert "a spec sets none" in found.message


@pytest.mark.parametrize(
    "uri",
    ["s3://vision-models/../nlp-models/secret", "s3://vision-models/%2e%2e/nlp-models", "pvc://models/%252E%252E/x"],
    ids=["plain", "percent-encoded", "encoded-twice"],
)
def test_an_explicit_storage_uri_that_climbs_out_of_its_folder_is_refused_at_its_line(repo: Path, uri: str) -> None:
    """A pin under the tenant's own prefix that walks out of it (`..`, encoded or not, as MLflow decodes a source)
    names files nobody registered."""
    edit(repo, PROMOTION, "    modelFormat: mlflow\n", f"    modelFormat: mlflow\n    storageUri: '{uri}'\n")
    found = assert_problem(repo, PROMOTION, 20, f"storageUri {uri!r}: it climbs out of the folder it names")
    assert "leave storageUri out" in found.message
