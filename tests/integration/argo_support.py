"""Helpers for tests that run pipelines through Argo's real workflow-controller on KWOK's fake nodes.

A config repo is applied by mlcp (as `mlcp apply` would), then runs are
submitted from its WorkflowTemplates and waited for. Shared by the test modules
of runs (test_argo_runs.py, test_pipeline_runs.py, test_run_command.py) so each
stays about one thing.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devenv import testing
from reconciler import connecting, engine
from reconciler.applying import apply_plan, unchecked
from reconciler.backends.base import ApplyOptions
from tests.integration import configrepo

ARGO = ("argoproj.io", "v1alpha1")
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
CRON_LABEL = "workflows.argoproj.io/cron-workflow"
FINISHED = ("Succeeded", "Failed", "Error")
TRAIN = "train-detector"  # vision: fetch-data -> train -> evaluate, scheduled
EMBED = "embed-corpus"  # nlp: one step


def require_argo(devenv: testing.TestTarget) -> None:
    if devenv.env is None or devenv.env.argo is None:
        pytest.skip("Argo's controller and KWOK run only in the local environment (docs/testing.md)")


def apply(repo: configrepo.ConfigRepo, kubeconfig: Path) -> None:
    """Plan and apply the repo's HEAD with mlcp's engine (the operator's settings), failing on any failure."""
    desired = engine.load_desired(repo.root)
    targets = repo.targets(kubeconfig)
    backends = connecting.connect(desired.repo, targets)
    plan, _ = engine.make_plan(desired, backends, targets=targets)
    report = apply_plan(plan, {"kubernetes": backends["kubernetes"]}, ApplyOptions(), authorize=unchecked)
    assert not report.failed, [(str(o.change.ref), o.message) for o in report.failed]


def applied_template(
    folder: Path, label: str, devenv: testing.TestTarget, kubeconfig: Path, k8s_admin: client.ApiClient
) -> Iterator[configrepo.ConfigRepo]:
    """The template, tenants renamed `<label>-<random>-…`, applied once by mlcp; its namespaces deleted after."""
    require_argo(devenv)
    repo = configrepo.make(folder, f"{label}-{secrets.token_hex(3)}")
    apply(repo, kubeconfig)
    yield repo
    core = client.CoreV1Api(k8s_admin)
    for ns in (repo.vision, repo.nlp):
        core.delete_namespace(ns)


def argo(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)
    return result


def finished(api: client.ApiClient, ns: str, name: str, timeout: float = 90) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        wf: dict[str, Any] = argo(api).get_namespaced_custom_object(*ARGO, ns, "workflows", name)
        return wf if wf.get("status", {}).get("phase") in FINISHED else None

    result: dict[str, Any] = wait(done, timeout, f"Workflow {ns}/{name} to finish")
    return result


def submit(
    submitter: client.ApiClient,
    ns: str,
    template: str,
    annotations: dict[str, str] | None = None,
    parameters: dict[str, str] | None = None,
) -> str:
    """Create a run of `template` as `submitter`; its generated name."""
    spec: dict[str, Any] = {"workflowTemplateRef": {"name": template}}
    if annotations:
        spec["podMetadata"] = {"annotations": annotations}
    if parameters:
        spec["arguments"] = {"parameters": [{"name": k, "value": v} for k, v in parameters.items()]}
    body = {"apiVersion": "/".join(ARGO), "kind": "Workflow", "metadata": {"generateName": f"{template}-"}}
    body["spec"] = spec
    created = argo(submitter).create_namespaced_custom_object(*ARGO, ns, "workflows", body)
    return str(created["metadata"]["name"])


def run(
    submitter: client.ApiClient,
    admin: client.ApiClient,
    ns: str,
    template: str,
    annotations: dict[str, str] | None = None,
    parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Submit a run of `template` as `submitter` and wait until Argo finishes it.

    A template created moments before may not have reached the controller's informer yet, which Argo
    reports as an Error naming the template; that one case is submitted again.
    """
    for _ in range(3):
        wf = finished(admin, ns, submit(submitter, ns, template, annotations, parameters))
        if f'workflowtemplates.argoproj.io "{template}" not found' not in wf["status"].get("message", ""):
            return wf
        time.sleep(1)
    return wf


def steps(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The pod nodes of a finished run, by step name."""
    return {n["displayName"]: n for n in wf["status"]["nodes"].values() if n["type"] == "Pod"}


def pods(admin: client.ApiClient, ns: str, wf: dict[str, Any]) -> list[client.V1Pod]:
    selector = f"{WORKFLOW_LABEL}={wf['metadata']['name']}"
    found: list[client.V1Pod] = client.CoreV1Api(admin).list_namespaced_pod(ns, label_selector=selector).items
    return found


def timestamp(node: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(str(node[key]).replace("Z", "+00:00"))


def step_of(pod: client.V1Pod) -> str:
    """The step a pod ran: the last part of the node name Argo annotates it with."""
    return str(pod.metadata.annotations["workflows.argoproj.io/node-name"]).rsplit(".", 1)[-1]
