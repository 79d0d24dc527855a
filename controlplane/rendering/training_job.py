"""TrainingJob → Kubeflow Trainer v2 `TrainJob` (trainer.kubeflow.org/v1alpha1) in the tenant's namespace.

`trainjob_manifest` is pure and takes no render context, so a pipeline step
that runs a TrainingJob (an Argo resource step creating the TrainJob and
waiting for it) renders exactly the same object.
"""

from __future__ import annotations

from typing import Any, cast

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering.catalog import Resource
from controlplane.rendering.context import RenderContext, desired, metadata
from controlplane.rendering.registry import renders
from controlplane.specs import Experiment
from controlplane.specs.notebook import GPU_RESOURCE
from controlplane.specs.training_job import EXPERIMENT_ENV, TrainingJob, TrainingJobSpec

TRAINER_GROUP = "trainer.kubeflow.org"
TRAIN_JOB = Resource(65, TRAINER_GROUP, "v1alpha1", "TrainJob", "trainjobs", True)


def _env(spec: TrainingJobSpec, experiment_name: str) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    env.append({"name": EXPERIMENT_ENV, "value": experiment_name})
    for item in spec.secret_env:
        ref = item.secret or item.config_map
        if ref is None:  # pragma: no cover - the model requires exactly one
            continue
        key = "secretKeyRef" if item.secret is not None else "configMapKeyRef"
        source = {"name": ref.name, "key": ref.key, **({"optional": True} if ref.optional else {})}
        env.append({"name": item.name, "valueFrom": {key: source}})
    return env


def trainjob_manifest(spec: TrainingJobSpec, meta: dict[str, Any], experiment_name: str) -> dict[str, Any]:
    """The TrainJob for `spec` with object metadata `meta`, logging to the MLflow experiment `experiment_name`."""
    per_node: dict[str, str] = {"cpu": spec.resources_per_node.cpu, "memory": spec.resources_per_node.memory}
    if spec.resources_per_node.gpu:
        per_node[GPU_RESOURCE] = str(spec.resources_per_node.gpu)
    trainer: dict[str, Any] = {
        "image": spec.image,
        "numNodes": spec.num_nodes,
        "resourcesPerNode": {"requests": dict(per_node), "limits": per_node},
        "env": _env(spec, experiment_name),
    }
    if spec.command:
        trainer["command"] = list(spec.command)
    if spec.args:
        trainer["args"] = list(spec.args)
    runtime = {"apiGroup": TRAINER_GROUP, "kind": spec.runtime.kind, "name": spec.runtime.name}
    return {
        "apiVersion": TRAIN_JOB.api_version,
        "kind": TRAIN_JOB.kind,
        "metadata": meta,
        "spec": {"runtimeRef": runtime, "trainer": trainer},
    }


def experiment_name(ctx: RenderContext, tenant: str | None, experiment: str) -> str:
    """The MLflow name of `tenant`'s Experiment spec `experiment` (validation guarantees it exists)."""
    found = next(
        cast(Experiment, e.spec)
        for e in ctx.repo.of_kind("Experiment")
        if e.tenant == tenant and e.spec.name == experiment
    )
    return found.mlflow_name(tenant or "")


@renders("TrainingJob", TRAIN_JOB)
def render_training_job(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    job = cast(TrainingJob, loaded.spec)
    meta = metadata(loaded, ctx, job.name, ctx.namespace(loaded.tenant))
    name = experiment_name(ctx, loaded.tenant, job.spec.experiment)
    return [desired(loaded, trainjob_manifest(job.spec, meta, name))]
