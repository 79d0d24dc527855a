"""The template's pipelines, applied by mlcp, run under Argo's own workflow-controller on KWOK's fake nodes.

mlcp's WorkflowTemplates are only worth something if Argo runs them. Here the
real controller (v4, upstream RBAC) turns each into pods, the real scheduler
binds them to KWOK's nodes, and KWOK completes them with the exit code a pod
annotation chooses (devenv/kwok.py). Richer pipelines, schedules and edits are in
test_pipeline_runs.py, `mlcp run` in test_run_command.py. Runs are submitted the way a
tenant's people would: a Workflow with `workflowTemplateRef`, created by a
tenant member under their own identity (mlcp's `mlcp-tenant-member` role, which
may create Workflows and nothing that acts as another account), and the pods
run as the tenant's workload ServiceAccount, whose role has no pod rights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from controlplane.rendering.context import TENANT_WORKLOAD_SA
from devenv import kwok, testing
from tests.integration import argo_support as argo
from tests.integration import configrepo
from tests.integration.argo_support import EMBED, TRAIN

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def repo(
    tmp_path_factory: pytest.TempPathFactory, devenv: testing.TestTarget, kubeconfig: Path, k8s_admin: client.ApiClient
) -> Iterator[configrepo.ConfigRepo]:
    """The template, tenants renamed, applied once by mlcp."""
    yield from argo.applied_template(tmp_path_factory.mktemp("argo"), "t-argo", devenv, kubeconfig, k8s_admin)


@pytest.mark.parametrize(
    ("tenant", "template", "steps"), [("vision", TRAIN, {"fetch-data", "train", "evaluate"}), ("nlp", EMBED, {"embed"})]
)
def test_every_template_pipeline_runs_to_succeeded_as_the_tenant_workload_account(
    repo: configrepo.ConfigRepo,
    k8s_admin: client.ApiClient,
    k8s_user: Callable[..., client.ApiClient],
    tenant: str,
    template: str,
    steps: set[str],
) -> None:
    ns, member = (repo.vision, "bob@example.com") if tenant == "vision" else (repo.nlp, "dave@example.com")
    wf = argo.run(k8s_user(member), k8s_admin, ns, template, {})
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert wf["spec"]["workflowTemplateRef"] == {"name": template}
    assert {name: node["phase"] for name, node in argo.steps(wf).items()} == dict.fromkeys(steps, "Succeeded")
    pods = argo.pods(k8s_admin, ns, wf)
    assert len(pods) == len(steps)
    gpu_pods = 0
    for pod in pods:
        assert pod.spec.service_account_name == TENANT_WORKLOAD_SA
        assert pod.spec.node_name in kwok.NODES, "bound by the scheduler to a KWOK node"
        assert pod.status.phase == "Succeeded"
        status = next(s for s in pod.status.container_statuses if s.name == "main")
        assert status.state.terminated.exit_code == 0
        main = next(c for c in pod.spec.containers if c.name == "main")
        if "nvidia.com/gpu" in (main.resources.requests or {}):
            gpu_pods += 1
            assert pod.spec.node_name == "kwok-gpu-0", "a GPU step lands on the only node that has GPUs"
    assert gpu_pods == (1 if tenant == "vision" else 0)  # vision's train step asks for one


def test_a_member_cannot_run_another_tenants_pipeline(
    repo: configrepo.ConfigRepo, k8s_user: Callable[..., client.ApiClient]
) -> None:
    body = {"apiVersion": "/".join(argo.ARGO), "kind": "Workflow", "metadata": {"generateName": "x-"}}
    body["spec"] = {"workflowTemplateRef": {"name": TRAIN}}
    with pytest.raises(client.ApiException) as info:
        argo.argo(k8s_user("dave@example.com")).create_namespaced_custom_object(
            *argo.ARGO, repo.vision, "workflows", body
        )
    assert info.value.status == 403, info.value.body


def test_steps_run_in_depends_on_order(repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient) -> None:
    # every step "runs" 1 s on KWOK, so an order the DAG did not enforce would show in the timestamps
    wf = argo.run(k8s_admin, k8s_admin, repo.vision, TRAIN, {kwok.DURATION_ANNOTATION: "1s"})
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    steps = argo.steps(wf)
    ids = {node["id"]: name for name, node in steps.items()}
    children = {name: {ids[c] for c in node.get("children", []) if c in ids} for name, node in steps.items()}
    assert children == {"fetch-data": {"train"}, "train": {"evaluate"}, "evaluate": set()}
    for before, after in (("fetch-data", "train"), ("train", "evaluate")):
        assert argo.timestamp(steps[before], "finishedAt") > argo.timestamp(steps[before], "startedAt")
        assert argo.timestamp(steps[after], "startedAt") >= argo.timestamp(steps[before], "finishedAt"), (before, after)


def test_a_failing_step_fails_the_run_and_its_dependents_never_start(
    repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient
) -> None:
    wf = argo.run(k8s_admin, k8s_admin, repo.vision, TRAIN, {f"{kwok.EXIT_CODE_ANNOTATION}.train": "3"})
    assert wf["status"]["phase"] == "Failed"
    steps = argo.steps(wf)
    assert steps["fetch-data"]["phase"] == "Succeeded"
    assert steps["train"]["phase"] == "Failed"
    assert "exit code 3" in steps["train"]["message"]
    assert "evaluate" not in steps
    assert len(argo.pods(k8s_admin, repo.vision, wf)) == 2


def test_a_run_wide_exit_code_fails_every_step(repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient) -> None:
    wf = argo.run(k8s_admin, k8s_admin, repo.nlp, EMBED, {kwok.EXIT_CODE_ANNOTATION: "2"})
    assert wf["status"]["phase"] == "Failed"
    assert "exit code 2" in argo.steps(wf)["embed"]["message"]
