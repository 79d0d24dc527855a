"""A pipeline's training step, applied by mlcp and run by Argo's own controller: it creates the TrainJob, as the
tenant's `mlcp-trainer`, and the run follows the TrainJob's conditions.

Nothing runs inside pods here: KWOK completes container steps, and devenv's stand-in for `argoexec resource`
(devenv/resourcesteps.py) does what the resource step's pod would — creates the manifest Argo's controller handed
the pod, impersonating the pod's ServiceAccount, then reads it until the template's conditions decide. No Trainer
controller runs either: the test plays it, writing the `Complete` or `Failed` condition Trainer v2 would.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from controlplane.rendering.context import TENANT_TRAINER_SA, TENANT_WORKLOAD_SA
from devenv import testing
from tests.integration import argo_support as argo
from tests.integration import configrepo

pytestmark = pytest.mark.integration

PIPELINE = "prepare-and-train"
TRAINER = ("trainer.kubeflow.org", "v1alpha1")
SPEC = """\
apiVersion: mlcp.dev/v1alpha1
kind: Pipeline
metadata:
  name: prepare-and-train
spec:
  steps:
    - name: prepare
      image: ghcr.io/example/prepare:1.0
      command: [prepare]
    - name: train
      dependsOn: [prepare]
      timeout: 5m
      trainingJob:
        runtime: {name: torch-distributed}
        numNodes: 2
        resourcesPerNode: {cpu: "1", memory: 1Gi}
        image: ghcr.io/example/vision-train:2.0.0
        command: [torchrun, train.py]
        experiment: detector
    - name: evaluate
      image: ghcr.io/example/evaluate:1.0
      command: [evaluate]
      dependsOn: [train]
"""


@pytest.fixture(scope="module")
def repo(
    tmp_path_factory: pytest.TempPathFactory, devenv: testing.TestTarget, kubeconfig: Path, k8s_admin: client.ApiClient
) -> Iterator[configrepo.ConfigRepo]:
    """The template plus a pipeline with a training step in vision's folder, applied once by mlcp."""
    argo.require_argo(devenv)
    repo = configrepo.make(tmp_path_factory.mktemp("training"), f"t-train-{secrets.token_hex(3)}")
    repo.path(f"tenants/{repo.vision}/pipelines/{PIPELINE}.yaml").write_text(SPEC, encoding="utf-8")
    repo.commit("a pipeline with a training step")
    argo.apply(repo, kubeconfig)
    yield repo
    client.CoreV1Api(k8s_admin).delete_namespace(repo.vision)
    client.CoreV1Api(k8s_admin).delete_namespace(repo.nlp)


def _trainjob_of(admin: client.ApiClient, ns: str, workflow: str) -> dict[str, Any] | None:
    jobs = client.CustomObjectsApi(admin).list_namespaced_custom_object(
        *TRAINER, ns, "trainjobs", label_selector=f"mlcp.dev/pipeline={PIPELINE}"
    )["items"]
    owned = [j for j in jobs if any(o["name"] == workflow for o in j["metadata"].get("ownerReferences", []))]
    return owned[0] if owned else None


def _finish_as_trainer_would(admin: client.ApiClient, job: dict[str, Any], condition: str) -> None:
    """What Trainer v2's controller writes when the JobSet ends: one terminal condition."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {"conditions": [{"type": condition, "status": "True", "reason": f"JobSet{condition}", "message": "done"}]}
    status["conditions"][0]["lastTransitionTime"] = now
    meta = job["metadata"]
    client.CustomObjectsApi(admin).patch_namespaced_custom_object_status(
        *TRAINER, meta["namespace"], "trainjobs", meta["name"], {"status": status}
    )


@pytest.fixture(scope="module")
def runs(repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient) -> dict[str, dict[str, Any]]:
    """Two runs: Trainer reports one TrainJob Complete, the other Failed. Each run, and its TrainJob while the
    step was still waiting, as seen then."""
    ns = repo.vision
    found: dict[str, dict[str, Any]] = {}
    for outcome in ("Complete", "Failed"):
        name = ""
        for _ in range(3):  # a template created moments before may not be in the controller's informer yet
            name = argo.submit(k8s_admin, ns, PIPELINE)
            job = argo.wait(
                lambda n=name: _trainjob_of(k8s_admin, ns, n) or _ended(k8s_admin, ns, n), 90, f"{name}'s TrainJob"
            )
            if job.get("kind") == "TrainJob":
                break
        time.sleep(2)  # the step must still be waiting: nothing but the condition ends it
        waiting = argo.argo(k8s_admin).get_namespaced_custom_object(*argo.ARGO, ns, "workflows", name)
        _finish_as_trainer_would(k8s_admin, job, outcome)
        found[outcome] = {"job": job, "waiting": waiting, "run": argo.finished(k8s_admin, ns, name)}
    return found


def _ended(admin: client.ApiClient, ns: str, name: str) -> dict[str, Any] | None:
    wf: dict[str, Any] = argo.argo(admin).get_namespaced_custom_object(*argo.ARGO, ns, "workflows", name)
    return wf if wf.get("status", {}).get("phase") in argo.FINISHED else None


def _nodes(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in wf["status"]["nodes"].values() if n["type"] == "Pod"}


def test_the_run_waits_for_the_trainjob_and_succeeds_when_it_completes(runs: dict[str, dict[str, Any]]) -> None:
    waiting = _nodes(runs["Complete"]["waiting"])
    assert waiting["train"]["phase"] in ("Pending", "Running"), "KWOK must not have completed the resource step"
    assert "evaluate" not in waiting
    wf = runs["Complete"]["run"]
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    nodes = _nodes(wf)
    assert [n["phase"] for n in nodes.values()] == ["Succeeded"] * 3
    assert nodes["prepare"]["finishedAt"] <= nodes["train"]["startedAt"]
    assert nodes["train"]["finishedAt"] <= nodes["evaluate"]["startedAt"]


def test_a_failed_trainjob_fails_the_step_and_stops_the_run(runs: dict[str, dict[str, Any]]) -> None:
    wf = runs["Failed"]["run"]
    assert wf["status"]["phase"] == "Failed"
    nodes = _nodes(wf)
    assert nodes["train"]["phase"] == "Failed"
    assert "failure condition" in nodes["train"]["message"]
    assert "evaluate" not in nodes or nodes["evaluate"]["phase"] == "Omitted"


def test_the_trainjob_is_the_rendered_one_owned_by_its_run(
    runs: dict[str, dict[str, Any]], repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient
) -> None:
    job = runs["Complete"]["job"]
    template = client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
        *argo.ARGO, repo.vision, "workflowtemplates", PIPELINE
    )
    [train] = [t for t in template["spec"]["templates"] if t["name"] == "train"]
    rendered = yaml.safe_load(train["resource"]["manifest"])
    assert job["spec"]["trainer"] == rendered["spec"]["trainer"]
    assert job["spec"]["runtimeRef"] == rendered["spec"]["runtimeRef"]
    assert job["metadata"]["name"].startswith("train-")
    assert "app.kubernetes.io/managed-by" not in job["metadata"]["labels"], "runs' jobs are not mlcp's to prune"
    [owner] = job["metadata"]["ownerReferences"]
    run = runs["Complete"]["run"]["metadata"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Workflow", run["name"], run["uid"])
    env = {e["name"]: e.get("value") for e in job["spec"]["trainer"]["env"]}
    assert env["MLFLOW_EXPERIMENT_NAME"] == f"{repo.vision}/detector"


def test_only_the_training_steps_pod_runs_as_the_trainer(
    runs: dict[str, dict[str, Any]], repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient
) -> None:
    pods = argo.pods(k8s_admin, repo.vision, runs["Complete"]["run"])
    accounts = {argo.step_of(p): p.spec.service_account_name for p in pods}
    assert accounts == {"prepare": TENANT_WORKLOAD_SA, "train": TENANT_TRAINER_SA, "evaluate": TENANT_WORKLOAD_SA}


@pytest.mark.parametrize(("account", "allowed"), [(TENANT_TRAINER_SA, True), (TENANT_WORKLOAD_SA, False)])
def test_only_the_trainer_account_may_create_trainjobs(
    repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient, account: str, allowed: bool
) -> None:
    """The API server's own answer, for the accounts as their pods' tokens would authenticate them."""
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{repo.vision}:{account}",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{repo.vision}", "system:authenticated"],
            resource_attributes=client.V1ResourceAttributes(
                group=TRAINER[0], resource="trainjobs", verb="create", namespace=repo.vision
            ),
        )
    )
    answer = client.AuthorizationV1Api(k8s_admin).create_subject_access_review(review)
    assert answer.status.allowed is allowed
    elsewhere = client.V1SubjectAccessReview(spec=review.spec)
    elsewhere.spec.resource_attributes.namespace = repo.nlp
    assert not client.AuthorizationV1Api(k8s_admin).create_subject_access_review(elsewhere).status.allowed
