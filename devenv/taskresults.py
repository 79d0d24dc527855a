"""A TEST STAND-IN for argoexec's `wait` container: the WorkflowTaskResult of every finished Argo pod.

In a real cluster each pod of a workflow runs Argo's `wait` container
(argoexec), which reads the step's output files when `main` exits and writes a
`WorkflowTaskResult` (an upstream CRD) named after the node, labelled with the
workflow and `workflows.argoproj.io/report-outputs-completed: "true"`, owned by
the Workflow. Argo's controller copies its outputs into the node and, for a
step that declares outputs, waits for it before the step counts as done. KWOK
runs no container, so without this stand-in a step with outputs would wait
forever.

This is not Argo and not part of mlcp: a thread of the process that owns the
local environment, acting as the cluster admin like KWOK (it stands in for what
runs inside pods). When an Argo pod has finished it writes what argoexec would
(argo-workflows v4 `workflow/executor/taskresult.go`): the node id from the
pod's `ARGO_NODE_ID`, the output parameters the template declares (its
`ARGO_TEMPLATE`), and their values from pod annotations, since no file is
written:

    mlcp.dev/kwok-output.<step>.<parameter>: "value"   one step's output
    mlcp.dev/kwok-output.<parameter>: "value"          every step that declares it

A declared output without a value takes its `valueFrom.default`, else is left
out (Argo then reports it missing, as for a file a step did not write).
Artifacts are not simulated.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kubernetes import client

from devenv.podwatch import WORKFLOW_LABEL, ArgoPodWatcher

OUTPUT_ANNOTATION = "mlcp.dev/kwok-output"
COMPLETED_LABEL = "workflows.argoproj.io/report-outputs-completed"
NODE_NAME_ANNOTATION = "workflows.argoproj.io/node-name"
ARGO = ("argoproj.io", "v1alpha1")
_FINISHED = ("Succeeded", "Failed")


def step_of(node_name: str) -> str:
    """The step a node runs: the last part of Argo's node name, without retry or loop suffixes like `(0)`."""
    return re.sub(r"\([^)]*\)", "", node_name).split(".")[-1]


def _env(pod: dict[str, Any], name: str) -> str | None:
    spec = pod.get("spec", {})
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        for var in container.get("env", []):
            if var.get("name") == name:
                return str(var.get("value", ""))
    return None


def outputs_of(pod: dict[str, Any]) -> dict[str, Any]:
    """The outputs argoexec would report for `pod` (the API's JSON form): declared parameters with annotated
    values, and the main container's exit code."""
    annotations: dict[str, str] = pod["metadata"].get("annotations", {})
    step = step_of(annotations.get(NODE_NAME_ANNOTATION, ""))
    template = json.loads(_env(pod, "ARGO_TEMPLATE") or "{}")
    parameters = []
    for declared in template.get("outputs", {}).get("parameters", []):
        name = declared["name"]
        value = annotations.get(f"{OUTPUT_ANNOTATION}.{step}.{name}", annotations.get(f"{OUTPUT_ANNOTATION}.{name}"))
        if value is None:
            value = declared.get("valueFrom", {}).get("default")
        if value is not None:
            parameters.append({"name": name, "value": value})
    outputs: dict[str, Any] = {"parameters": parameters} if parameters else {}
    for status in pod.get("status", {}).get("containerStatuses", []):
        terminated = status.get("state", {}).get("terminated")
        if status.get("name") == "main" and terminated:
            outputs["exitCode"] = str(terminated.get("exitCode", 0))
    return outputs


def task_result(pod: dict[str, Any]) -> dict[str, Any] | None:
    """The WorkflowTaskResult for a finished Argo pod (the API's JSON form); None for a pod that is not one."""
    meta = pod["metadata"]
    node_id = _env(pod, "ARGO_NODE_ID")
    workflow = meta.get("labels", {}).get(WORKFLOW_LABEL)
    owner = next((o for o in meta.get("ownerReferences", []) if o.get("kind") == "Workflow"), None)
    if not node_id or not workflow or owner is None:
        return None
    outputs = outputs_of(pod)
    owned_by = {"apiVersion": "/".join(ARGO), "kind": "Workflow", "name": owner["name"], "uid": owner["uid"]}
    return {
        "apiVersion": "/".join(ARGO),
        "kind": "WorkflowTaskResult",
        "metadata": {
            "name": node_id,
            "namespace": meta["namespace"],
            "labels": {WORKFLOW_LABEL: workflow, COMPLETED_LABEL: "true"},
            "ownerReferences": [owned_by],
        },
        **({"outputs": outputs} if outputs else {}),
    }


class TaskResults(ArgoPodWatcher):
    """The stand-in's watch loop, in a daemon thread until `stop()`."""

    thread_name = "argoexec-stand-in"

    def __init__(self, admin_kubeconfig: Path) -> None:
        super().__init__(admin_kubeconfig)
        self._written: set[str] = set()

    def pod_event(self, api: client.ApiClient, pod: dict[str, Any]) -> None:
        self._finished(client.CustomObjectsApi(api), pod)

    def _finished(self, custom: client.CustomObjectsApi, pod: dict[str, Any]) -> None:
        uid = pod["metadata"].get("uid")
        if pod.get("status", {}).get("phase") not in _FINISHED or uid in self._written:
            return
        body = task_result(pod)
        if body is None:
            return
        try:
            custom.create_namespaced_custom_object(*ARGO, body["metadata"]["namespace"], "workflowtaskresults", body)
        except client.ApiException as exc:
            if exc.status not in (404, 409):  # the namespace or workflow is gone, or it exists: nothing to do
                raise
        self._written.add(str(uid))
