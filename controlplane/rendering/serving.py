"""ModelPromotion with `serving` → a KServe InferenceService in the tenant's namespace.

KServe cannot resolve an MLflow alias: its storage initializer only downloads
concrete locations (`s3://`, `gs://`, …). The InferenceService must therefore
point at the artifact location of the version the alias is moved to, so an
alias move (or the revert of one) changes the InferenceService in the same
plan and KServe rolls the new version out. That version is a live fact of the
registry, and rendering is pure: the manifest carries the alias it follows in
the annotation `mlcp.dev/serves-alias`, and the engine completes `storageUri`
from the registry before planning (reconciler/serving.py). A `serving.storageUri`
the spec names is rendered too, as a claim the engine holds to the resolved
location: it never serves anything the alias move did not authorize. Applying runs the registry before the
cluster, so the InferenceService never points at a version the alias has not
been moved to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject, ObjectRef
from controlplane.rendering.catalog import Resource
from controlplane.rendering.context import RenderContext, desired, metadata
from controlplane.rendering.mlflow_objects import API_VERSION, MODEL_ALIAS, SYSTEM
from controlplane.rendering.registry import renders
from controlplane.specs import ModelPromotion

KSERVE_API = "serving.kserve.io/v1beta1"
INFERENCE_SERVICE = Resource(70, "serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices", True)


SERVES_ANNOTATION = "mlcp.dev/serves-alias"
"""`<model>@<alias>` on an InferenceService whose `storageUri` the engine fills from the registry."""


def served_alias(manifest: Mapping[str, Any]) -> ObjectRef | None:
    """The alias an InferenceService follows (its `mlcp.dev/serves-alias`), None for any other manifest."""
    if manifest.get("kind") != INFERENCE_SERVICE.kind or manifest.get("apiVersion") != KSERVE_API:
        return None
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    served = annotations.get(SERVES_ANNOTATION)
    return ObjectRef(SYSTEM, API_VERSION, MODEL_ALIAS, None, str(served)) if served else None


@renders("ModelPromotion", INFERENCE_SERVICE)
def render_inference_service(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    promotion = cast(ModelPromotion, loaded.spec)
    serving = promotion.spec.serving
    if serving is None:
        return []
    meta = metadata(loaded, ctx, promotion.metadata.name, ctx.namespace(loaded.tenant))
    model: dict[str, Any] = {"modelFormat": {"name": serving.model_format}}
    if serving.storage_uri is not None:
        model["storageUri"] = serving.storage_uri
    meta["annotations"][SERVES_ANNOTATION] = f"{promotion.spec.model}@{promotion.spec.alias}"
    if serving.runtime is not None:
        model["runtime"] = serving.runtime
    if serving.resources:
        # Limits equal to the requests, as a Notebook's and a TrainingJob's: left out, the tenant's LimitRange or
        # KServe's defaulter fills them, below a larger request, and the API server refuses every predictor pod.
        model["resources"] = {"requests": dict(serving.resources), "limits": dict(serving.resources)}
    predictor: dict[str, Any] = {"minReplicas": serving.min_replicas, "model": model}
    if serving.max_replicas is not None:
        predictor["maxReplicas"] = serving.max_replicas
    if serving.canary is not None:
        predictor["canaryTrafficPercent"] = serving.canary.traffic_percent
    manifest = {
        "apiVersion": KSERVE_API,
        "kind": "InferenceService",
        "metadata": meta,
        "spec": {"predictor": predictor},
    }
    return [desired(loaded, manifest)]
