"""devenv's stand-in for argoexec's wait container: the WorkflowTaskResult it writes for a finished pod."""

from __future__ import annotations

import json
from typing import Any

from devenv import taskresults


def _pod(annotations: dict[str, str], outputs: list[dict[str, Any]], exit_code: int = 0) -> dict[str, Any]:
    template = {"name": "measure", "outputs": {"parameters": outputs}}
    env = [{"name": "ARGO_NODE_ID", "value": "run-x-123"}, {"name": "ARGO_TEMPLATE", "value": json.dumps(template)}]
    return {
        "metadata": {
            "namespace": "vision",
            "labels": {"workflows.argoproj.io/workflow": "run-x"},
            "annotations": {"workflows.argoproj.io/node-name": "run-x.measure(0)", **annotations},
            "ownerReferences": [
                {"kind": "Workflow", "name": "run-x", "uid": "u-1", "apiVersion": "argoproj.io/v1alpha1"}
            ],
        },
        "spec": {"initContainers": [{"name": "init", "env": env}], "containers": [{"name": "main"}]},
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": exit_code}}}],
        },
    }


def test_the_result_is_named_after_the_node_owned_by_the_workflow_and_complete() -> None:
    result = taskresults.task_result(_pod({}, []))
    assert result == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTaskResult",
        "metadata": {
            "name": "run-x-123",
            "namespace": "vision",
            "labels": {
                "workflows.argoproj.io/workflow": "run-x",
                "workflows.argoproj.io/report-outputs-completed": "true",
            },
            "ownerReferences": [
                {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "run-x", "uid": "u-1"}
            ],
        },
        "outputs": {"exitCode": "0"},
    }


def test_declared_outputs_take_the_step_annotation_then_the_shared_one_then_the_default() -> None:
    declared = [
        {"name": "accuracy", "path": "/tmp/a"},
        {"name": "shards", "path": "/tmp/s"},
        {"name": "note", "path": "/tmp/n", "valueFrom": {"default": "none"}},
        {"name": "missing", "path": "/tmp/m"},
    ]
    annotations = {
        "mlcp.dev/kwok-output.measure.accuracy": "0.9",
        "mlcp.dev/kwok-output.accuracy": "0.1",
        "mlcp.dev/kwok-output.shards": "[1, 2]",
        "mlcp.dev/kwok-output.other.note": "not this step's",
    }
    outputs = taskresults.outputs_of(_pod(annotations, declared, exit_code=3))
    assert outputs == {
        "parameters": [
            {"name": "accuracy", "value": "0.9"},
            {"name": "shards", "value": "[1, 2]"},
            {"name": "note", "value": "none"},
        ],
        "exitCode": "3",
    }


def test_a_pod_that_is_not_an_argo_step_gets_no_result() -> None:
    pod = _pod({}, [])
    pod["metadata"]["ownerReferences"] = []
    assert taskresults.task_result(pod) is None


def test_the_step_is_the_last_part_of_the_node_name_without_suffixes() -> None:
    assert taskresults.step_of("wf.per-shard(1:s2)") == "per-shard"
    assert taskresults.step_of("wf.train(0)") == "train"
