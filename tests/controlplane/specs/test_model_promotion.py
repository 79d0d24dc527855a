"""ModelPromotion: exactly one source of the version, gates and serving as declared."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.specs import ModelPromotion

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
