"""devenv's stand-in for `argoexec resource`: which pods it plays, where it creates, and how it reads conditions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.rendering.pipeline_training import FAILURE_CONDITION, SUCCESS_CONDITION
from devenv import resourcesteps

RESOURCE = {"action": "create", "successCondition": SUCCESS_CONDITION, "failureCondition": FAILURE_CONDITION}


def _pod(template: dict[str, Any]) -> dict[str, Any]:
    env = [{"name": "ARGO_TEMPLATE", "value": json.dumps(template)}]
    return {"spec": {"initContainers": [{"name": "init", "env": env}], "containers": [{"name": "main"}]}}


def _job(*conditions: tuple[str, str]) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": t, "status": s} for t, s in conditions]}}


def test_only_pods_of_resource_templates_are_played() -> None:
    assert resourcesteps.resource_action(_pod({"name": "train", "resource": RESOURCE})) == "create"
    assert resourcesteps.resource_action(_pod({"name": "prepare", "container": {"image": "x"}})) is None
    assert resourcesteps.resource_action({"spec": {"containers": [{"name": "main"}]}}) is None


def test_objects_are_created_where_argoexec_would_infer_their_path() -> None:
    job = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"namespace": "v"}}
    assert (
        resourcesteps.object_path(job, collection=True) == "/apis/trainer.kubeflow.org/v1alpha1/namespaces/v/trainjobs"
    )
    job["metadata"]["name"] = "train-abcde"
    assert resourcesteps.object_path(job).endswith("/namespaces/v/trainjobs/train-abcde")
    policy = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "v"}}
    assert resourcesteps.object_path(policy) == "/api/v1/namespaces/v/resourcequotas/q"
    assert resourcesteps.object_path({"apiVersion": "v1", "kind": "Policy", "metadata": {"name": "p"}}).endswith(
        "/policies/p"
    )


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (_job(), None),
        (_job(("Complete", "True")), 0),
        (_job(("Failed", "True")), 1),
        (_job(("Suspended", "False"), ("Failed", "True")), 1),
        (_job(("Suspended", "True")), None),
        (_job(("Complete", "False")), None),
    ],
)
def test_trainer_conditions_decide_as_argo_would(job: dict[str, Any], expected: int | None) -> None:
    found = resourcesteps.outcome(job, RESOURCE)
    assert (found[0] if found else None) == expected


def test_requirements_parse_like_a_label_selector() -> None:
    assert resourcesteps.requirements("a.b == x,c.0 != y, d > 2,e") == [
        ("a.b", "==", "x"),
        ("c.0", "!=", "y"),
        ("d", ">", "2"),
        ("e", "exists", ""),
    ]
    obj = {"status": {"succeeded": 3, "ready": True, "list": [{"k": "v"}]}}
    assert resourcesteps.matches(obj, ("status.succeeded", ">", "2"))
    assert resourcesteps.matches(obj, ("status.ready", "==", "true"))
    assert resourcesteps.matches(obj, ("status.list.0.k", "=", "v"))
    assert resourcesteps.matches(obj, ("status.missing", "!=", "v"))
    assert not resourcesteps.matches(obj, ("status.list.1.k", "exists", ""))
