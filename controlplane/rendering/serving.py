"""ModelPromotion with `serving` → a KServe InferenceService in the tenant's namespace.

It points at `models:/<model>@<alias>` (unless the spec names a storage URI),
so the cluster object does not change when the alias moves: the registry move
is the promotion, and KServe resolves the alias. Applying runs the registry
before the cluster, so a new InferenceService never points at an alias that
has not been set yet.
"""

from __future__ import annotations

from typing import Any, cast

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering.context import RenderContext, desired, metadata
from controlplane.rendering.registry import renders
from controlplane.specs import ModelPromotion

KSERVE_API = "serving.kserve.io/v1beta1"


def storage_uri(model: str, alias: str, declared: str | None) -> str:
    return declared or f"models:/{model}@{alias}"


@renders("ModelPromotion")
def render_inference_service(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    promotion = cast(ModelPromotion, loaded.spec)
    serving = promotion.spec.serving
    if serving is None:
        return []
    model: dict[str, Any] = {
        "modelFormat": {"name": serving.model_format},
        "storageUri": storage_uri(promotion.spec.model, promotion.spec.alias, serving.storage_uri),
    }
    if serving.runtime is not None:
        model["runtime"] = serving.runtime
    if serving.resources:
        model["resources"] = {"requests": dict(serving.resources)}
    predictor: dict[str, Any] = {"minReplicas": serving.min_replicas, "model": model}
    if serving.max_replicas is not None:
        predictor["maxReplicas"] = serving.max_replicas
    manifest = {
        "apiVersion": KSERVE_API,
        "kind": "InferenceService",
        "metadata": metadata(loaded, ctx, promotion.metadata.name, ctx.namespace(loaded.tenant)),
        "spec": {"predictor": predictor},
    }
    return [desired(loaded, manifest)]
