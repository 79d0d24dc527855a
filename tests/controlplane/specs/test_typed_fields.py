"""Every string a spec may hold is classified by where it lands, and a typed target's rule is proven on bad values.

A value the API server (or the controller behind a CRD) refuses, but `mlcp validate` lets through, fails at
apply after the rest of the spec was written: a partial apply. The walk below lists every string field of
every registered kind (dict keys and list items included), so a new field fails this test until someone says
what it renders into: a typed Kubernetes field (then its type must refuse that field's bad values, checked
here on the field's own annotation), a field checked by a named rule elsewhere, or free text.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from controlplane.specs.base import KINDS

Build = Callable[[Any], Any]

BAD: dict[str, tuple[Any, ...]] = {
    "quantity": ("lots", "1 Gi", "-1", "1GB"),
    "dns-label": ("Fast", "a.b", "-a", "a_b", "x" * 64),
    "dns-subdomain": ("Fast SSD", "a_b", "-a.b", "a..b", "x" * 254),
    "label-key": ("not a key!", "a/b/c", "Example.com/x", "-a"),
    "label-value": ("not a value!", "-a", "x" * 64),
    "annotation-key": ("not a key!", "a/b/c", "mlcp.dev/spec", "kubeflow-resource-stopped", "serving.kserve.io/x"),
    "resource-name": ("not a name!", "a//b"),
    "image": ("Not An Image!", "a b"),
    "absolute-path": ("relative/path", "/a:b"),
    "kserve-storage-uri": ("file:///etc", "models:/m/1", "mlflow-artifacts:/1/a", "relative/x"),
    "mlflow-artifact-root": (
        "mlflow-artifacts://evil.example.com/x",
        "https://evil.example.com/a",
        "http://evil.example.com/a",
        "file:///etc",
        "/var/mlruns",
        "s3://bucket/../other",
    ),
}
"""Values a target refuses, per Kubernetes (or controller) type."""

TYPED: dict[str, str] = {
    "*.metadata.name": "dns-label",
    "*.metadata.tenant": "dns-label",
    "*.metadata.labels.<key>": "label-key",
    "*.metadata.labels.{}": "label-value",
    "*.metadata.annotations.<key>": "annotation-key",
    "Tenant.spec.labels.<key>": "label-key",
    "Tenant.spec.labels.{}": "label-value",
    "Tenant.spec.namespace": "dns-label",
    "Tenant.spec.networkIsolation.allowFromNamespaces.[]": "dns-label",
    "Quota.spec.*.<key>": "resource-name",
    "Quota.spec.*.{}": "quantity",
    "*.resources.<key>": "resource-name",
    "*.resources.{}": "quantity",
    "*.resources.requests.<key>": "resource-name",
    "*.resources.requests.{}": "quantity",
    "*.resources.limits.<key>": "resource-name",
    "*.resources.limits.{}": "quantity",
    "*.resources.cpu": "quantity",
    "*.resources.memory": "quantity",
    "*.resourcesPerNode.cpu": "quantity",
    "*.resourcesPerNode.memory": "quantity",
    "Notebook.spec.workspace.size": "quantity",
    "Notebook.spec.workspace.storageClass": "dns-subdomain",
    "Notebook.spec.workspace.mountPath": "absolute-path",
    "Pipeline.spec.volumes.[].emptyDir.sizeLimit": "quantity",
    "Pipeline.spec.volumes.[].perRun.size": "quantity",
    "Pipeline.spec.volumes.[].perRun.storageClass": "dns-subdomain",
    "Pipeline.spec.volumes.[].name": "dns-label",
    "Pipeline.spec.volumes.[].claim": "dns-label",
    "Pipeline.spec.artifactRepository.configMap": "dns-label",
    "*.secret.name": "dns-label",
    "*.configMap.name": "dns-label",
    "*.volumeMounts.[].volume": "dns-label",
    "*.runtime.name": "dns-label",
    "Notebook.spec.image": "image",
    "TrainingJob.spec.image": "image",
    "Pipeline.spec.steps.[].trainingJob.image": "image",
    "Pipeline.spec.steps.[].name": "dns-label",
    "Pipeline.spec.onExit.name": "dns-label",
    "Pipeline.spec.steps.[].dependsOn.[]": "dns-label",
    "*.experiment": "dns-label",
    "Experiment.spec.tuning.trialPipeline": "dns-label",
    "Experiment.spec.tuning.tuner": "dns-label",
    "Experiment.spec.tuning.metricsStep": "dns-label",  # a label value: primaryPodLabels
    "ModelPromotion.spec.serving.runtime": "dns-subdomain",
    "ModelPromotion.spec.serving.storageUri": "kserve-storage-uri",
    "Experiment.spec.tracking.artifactLocation": "mlflow-artifact-root",
}
"""Field (a pattern over the walk's paths, `*` any characters) → the type of the target field it renders into,
checked by the field's own type."""

CHECKED_ELSEWHERE: dict[str, str] = {
    "TrainingJob.spec.env.<key>": "TrainingJobSpec._env_names (environment variable names)",
    "Pipeline.spec.parameters.[].name": "pipeline_rules (Argo's parameter names)",
    "Pipeline.spec.steps.[].parameters.[].name": "pipeline_rules (Argo's parameter names)",
    "Pipeline.spec.steps.[].artifacts.[].*": "pipeline_rules (Argo's artifact names and references)",
    "Pipeline.spec.steps.[].outputs.*": "pipeline_rules (Argo's output names)",
    "Pipeline.spec.steps.[].when": "pipeline_rules (`{{...}}` scopes)",
    "Pipeline.spec.steps.[].withParam": "pipeline_rules (`{{...}}` scopes)",
    "Pipeline.spec.steps.[].withItems.*": "pipeline_rules (JSON items)",
    "Pipeline.spec.schedule.*": "pipeline_rules and cronspec (cron, time zone, Argo expressions)",
    "*.retry.backoff.*": "pipeline_rules and goduration (Go durations)",
    "*.timeout": "pipeline_rules and goduration (Go durations)",
    "Pipeline.spec.steps.[].image": "pipeline_rules (image references after `{{...}}` substitution)",
    "Pipeline.spec.onExit.image": "pipeline_rules (image references after `{{...}}` substitution)",
    "Experiment.spec.tracking.name": "validation (the tenant's own MLflow experiment names)",
    "ModelPromotion.spec.model": "MLflow's model name rule (_model_name) and validation (the tenant's own models)",
    "ModelPromotion.spec.alias": "MLflow's alias rule (_alias)",
    "ModelPromotion.spec.fromAlias": "MLflow's alias rule (_alias)",
    # Pod fields the API server checks in a pod spec (PodSpec validation): findings 1 and 3 of the render review,
    # checked by pipeline_rules on the fix-podfields branch; move each to TYPED once its type refuses bad values.
    "*.nodeSelector.*": "pod placement: pipeline_rules",
    "*.tolerations.[].*": "pod placement: pipeline_rules",
    "*.affinity.*": "pod placement: pipeline_rules",
    "*.env.<key>": "pod environment variable names: pipeline_rules",
    "*.envFrom.[].name": "pod environment variable names: pipeline_rules",
    "*.secretEnv.[].name": "pod environment variable names: TrainingJobSpec",
    "*.secret.key": "Secret/ConfigMap keys: pod validation",
    "*.configMap.key": "Secret/ConfigMap keys: pod validation",
    "*.volumeMounts.[].mountPath": "pod volume mounts: pipeline_rules",
    "*.volumeMounts.[].subPath": "pod volume mounts: pipeline_rules",
    "Pipeline.spec.artifactRepository.key": "a ConfigMap key Argo reads (a missing key fails the run, not apply)",
}
"""Field → the rule (outside the field's own type) that refuses its bad values."""

FREE: dict[str, str] = {
    "*.metadata.annotations.{}": "annotation values are any string",
    "*.description": "text",
    "*.displayName": "text",
    "*.command.[]": "a container's argv",
    "*.args.[]": "a container's argv",
    "*.env.{}": "environment variable values are any string",
    "Pipeline.spec.parameters.[].value": "Argo parameter values are any string",
    "Pipeline.spec.parameters.[].enum.[]": "Argo parameter values are any string",
    "Pipeline.spec.steps.[].parameters.[].value": "Argo parameter values are any string",
    "Experiment.spec.tracking.tags.*": "MLflow experiment tags are any string",
    "Experiment.spec.tuning.objective.*": "metric names the trials report",
    "Experiment.spec.tuning.algorithm.settings.*": "Katib algorithm settings are strings",
    "Experiment.spec.tuning.parameters.[].*": "Katib parameter names and values (Argo parameters of the trial)",
    "ModelPromotion.spec.gates.[].metric": "an MLflow metric name",
    "ModelPromotion.spec.serving.modelFormat": "KServe matches it against its runtimes' formats (any string)",
    "Notebook.spec.users.[]": "RBAC subject names are any string",
    "Tenant.spec.owners.[]": "RBAC subject names are any string",
    "Tenant.spec.members.[].name": "RBAC subject names are any string",
    "AccessPolicy.spec.*": "the policy is mlcp's own data (access_policy.py checks it), never rendered to a target",
}
"""Field → why any string is fine where it lands."""


def _walk(ann: Any, meta: list[Any], path: str, top: Any, build: Build) -> Iterator[tuple[str, Any, Build]]:
    """Each string leaf under `ann`: its path, the annotation of the model field holding it, and how to build that
    field's value around one leaf value."""
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is Annotated:
        yield from _walk(args[0], [*meta, *args[1:]], path, top, build)
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is not type(None):
                yield from _walk(arg, meta, path, top, build)
    elif origin is list:
        yield from _walk(args[0], [], f"{path}.[]", top, lambda v: build([v]))
    elif origin is dict:
        yield from _walk(args[0], [], f"{path}.<key>", top, lambda v: build({v: "1"}))
        yield from _walk(args[1], [], f"{path}.{{}}", top, lambda v: build({"a": v}))
    elif isinstance(ann, type) and issubclass(ann, BaseModel):
        yield from _fields(ann, path)
    elif ann is str:
        yield path, top, build


def _fields(model: type[BaseModel], path: str) -> Iterator[tuple[str, Any, Build]]:
    for name, field in model.model_fields.items():
        top = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
        yield from _walk(field.annotation, list(field.metadata), f"{path}.{field.alias or name}", top, lambda v: v)


def _leaves() -> dict[str, list[tuple[Any, Build]]]:
    found: dict[str, list[tuple[Any, Build]]] = {}
    for kind, cls in KINDS.items():
        for path, top, build in _fields(cls, kind):
            if not path.endswith((".kind", ".apiVersion")):
                found.setdefault(path, []).append((top, build))
    return found


LEAVES = _leaves()


def _glob(path: str, pattern: str) -> bool:
    """Whether `path` matches `pattern`, where only `*` is special (any characters)."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), path) is not None


def _match(path: str, table: dict[str, str]) -> str | None:
    return next((value for pattern, value in table.items() if _glob(path, pattern)), None)


def test_every_string_field_of_every_kind_is_classified() -> None:
    unclassified = [
        path for path in LEAVES if not any(_match(path, t) is not None for t in (TYPED, CHECKED_ELSEWHERE, FREE))
    ]
    assert not unclassified, (
        "new spec fields whose target is not said: add each to TYPED (its type must refuse that target's bad "
        f"values), CHECKED_ELSEWHERE or FREE: {unclassified}"
    )


def test_typed_entries_name_fields_that_exist() -> None:
    stale = [pattern for pattern in TYPED if not any(_glob(path, pattern) for path in LEAVES)]
    assert not stale, f"TYPED names fields no kind has: {stale}"


TYPED_CASES = [
    pytest.param(path, kind, bad, id=f"{path}={bad[:20]}")
    for path in sorted(LEAVES)
    if (kind := _match(path, TYPED)) is not None
    for bad in BAD[kind]
]


@pytest.mark.parametrize(("path", "kind", "bad"), TYPED_CASES)
def test_a_typed_field_refuses_what_its_target_refuses(path: str, kind: str, bad: str) -> None:
    for top, build in LEAVES[path]:
        with pytest.raises(ValidationError):
            TypeAdapter(top).validate_python(build(bad))
