"""`mlcp run` against the real API server, Argo's controller and KWOK: RBAC decides who may run a pipeline.

The command submits under the caller's own kubeconfig: a tenant member's run
goes through and Succeeds as the tenant's workload ServiceAccount, a stranger
and a member of another tenant get the API server's 403 as a one-line error,
a failing step makes `--watch` exit 3. Runs are operations: a plan with
`--prune` never touches a Workflow, even one that copies mlcp's labels.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from typer.testing import CliRunner, Result

from controlplane.cli.app import app
from controlplane.labels import MANAGED_BY, SPEC_LABEL, TENANT_LABEL
from controlplane.rendering.context import TENANT_WORKLOAD_SA
from devenv import kwok, testing
from reconciler import engine
from tests.integration import argo_support as argo
from tests.integration import configrepo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def repo(
    tmp_path_factory: pytest.TempPathFactory, devenv: testing.TestTarget, kubeconfig: Path, k8s_admin: client.ApiClient
) -> Iterator[configrepo.ConfigRepo]:
    """The template, tenants renamed, applied once by mlcp."""
    yield from argo.applied_template(tmp_path_factory.mktemp("run"), "t-run", devenv, kubeconfig, k8s_admin)


def _kubeconfig(devenv: testing.TestTarget, user: str) -> str:
    assert devenv.env is not None
    return str(devenv.env.user_kubeconfig(user))


def _mlcp(repo: configrepo.ConfigRepo, kubeconfig: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["run", *args, "--repo", str(repo.root), "--kubeconfig", kubeconfig])


def test_a_member_runs_a_pipeline_and_watch_reports_every_step_as_json(
    repo: configrepo.ConfigRepo, devenv: testing.TestTarget, k8s_admin: client.ApiClient
) -> None:
    bob = _kubeconfig(devenv, "bob@example.com")  # vision's member (role edit)
    result = _mlcp(repo, bob, argo.TRAIN, "--param", "epochs=3", "--watch", "-o", "json")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    doc = json.loads(result.stdout)
    assert doc["format"] == 1
    assert doc["phase"] == "Succeeded", doc["message"]
    assert (doc["tenant"], doc["namespace"], doc["pipeline"]) == (repo.vision, repo.vision, argo.TRAIN)
    assert doc["parameters"] == {"epochs": "3"}
    assert doc["submittedAs"] == "bob@example.com"
    assert doc["watched"] is True
    assert doc["duration"] >= 0
    assert [s["name"] for s in doc["steps"]] == ["fetch-data", "train", "evaluate"]
    assert {s["phase"] for s in doc["steps"]} == {"Succeeded"}
    assert set(doc["steps"][0]) == {"name", "phase", "type", "startedAt", "finishedAt", "message", "attempts"}

    wf = argo.argo(k8s_admin).get_namespaced_custom_object(*argo.ARGO, repo.vision, "workflows", doc["name"])
    assert wf["spec"]["workflowTemplateRef"] == {"name": argo.TRAIN}
    assert wf["spec"]["arguments"]["parameters"] == [{"name": "epochs", "value": "3"}]
    labels = wf["metadata"].get("labels", {})
    assert MANAGED_BY not in labels and SPEC_LABEL not in labels and TENANT_LABEL not in labels
    train = next(p for p in argo.pods(k8s_admin, repo.vision, wf) if argo.step_of(p) == "train")
    assert train.spec.service_account_name == TENANT_WORKLOAD_SA
    main = next(c for c in train.spec.containers if c.name == "main")
    argv = [*(main.command or []), *(main.args or [])]  # Argo's emissary wraps the step's own argv
    assert argv[-4:] == ["--lr", "0.001", "--epochs", "3"], "the run's parameter reached the step"


def test_without_watch_the_run_name_is_printed_and_the_command_returns(
    repo: configrepo.ConfigRepo, devenv: testing.TestTarget, k8s_admin: client.ApiClient
) -> None:
    result = _mlcp(repo, _kubeconfig(devenv, "dave@example.com"), argo.EMBED, "--tenant", repo.nlp)
    assert result.exit_code == 0, result.output
    name = result.stdout.strip()
    assert name.startswith(f"{argo.EMBED}-")
    assert f"submitted run {name} of {repo.nlp}/{argo.EMBED} in {repo.nlp} as dave@example.com" in result.stderr
    assert argo.finished(k8s_admin, repo.nlp, name)["status"]["phase"] == "Succeeded"


@pytest.mark.parametrize(
    ("user", "why"), [("mallory@example.com", "no RBAC at all"), ("dave@example.com", "a member of nlp, not vision")]
)
def test_a_caller_without_rbac_in_the_namespace_gets_a_clear_forbidden_error(
    repo: configrepo.ConfigRepo, devenv: testing.TestTarget, k8s_admin: client.ApiClient, user: str, why: str
) -> None:
    runs_before = argo.argo(k8s_admin).list_namespaced_custom_object(*argo.ARGO, repo.vision, "workflows")["items"]
    result = _mlcp(repo, _kubeconfig(devenv, user), argo.TRAIN, "--watch")
    assert result.exit_code == 1, (why, result.output)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert "error: forbidden: cannot read WorkflowTemplate" in result.stderr, result.stderr
    assert f'User "{user}" cannot get resource "workflowtemplates"' in result.stderr
    assert "hint: runs use your own Kubernetes identity" in result.stderr
    runs_after = argo.argo(k8s_admin).list_namespaced_custom_object(*argo.ARGO, repo.vision, "workflows")["items"]
    assert len(runs_after) == len(runs_before), "nothing was submitted"


def test_a_reader_may_see_the_template_but_the_api_server_refuses_the_run(
    repo: configrepo.ConfigRepo, devenv: testing.TestTarget
) -> None:
    """vision-readers have `view`: the template is readable, creating a Workflow is not: RBAC, not mlcp, says no."""
    assert devenv.env is not None
    readers = f"{repo.vision}-readers"  # the template's vision-readers, renamed with the tenant
    reader = str(devenv.env.user_kubeconfig("erin@example.com", (readers,)))
    result = _mlcp(repo, reader, argo.TRAIN)
    assert result.exit_code == 1, result.output
    assert f"error: forbidden: cannot create a Workflow in namespace {repo.vision}" in result.stderr, result.stderr
    assert 'cannot create resource "workflows"' in result.stderr


def test_an_unknown_parameter_is_a_usage_error_and_nothing_is_submitted(
    repo: configrepo.ConfigRepo, devenv: testing.TestTarget
) -> None:
    result = _mlcp(repo, _kubeconfig(devenv, "bob@example.com"), argo.TRAIN, "--param", "learning.rate=1")
    assert result.exit_code == 2, result.output
    assert "error: pipeline 'train-detector' has no parameter 'learning.rate'" in result.stderr
    assert "hint: its parameters: learning-rate, epochs" in result.stderr


def test_a_failing_step_makes_watch_exit_3_naming_the_step(
    repo: configrepo.ConfigRepo, devenv: testing.TestTarget, k8s_admin: client.ApiClient
) -> None:
    # The cluster's template makes its step's pod exit 2 on KWOK (a field mlcp does not manage, so the
    # template stays the governed one); the member's run then fails.
    annotations = {f"{kwok.EXIT_CODE_ANNOTATION}.embed": "2"}
    argo.argo(k8s_admin).patch_namespaced_custom_object(
        *argo.ARGO, repo.nlp, "workflowtemplates", argo.EMBED, {"spec": {"podMetadata": {"annotations": annotations}}}
    )
    result = _mlcp(repo, _kubeconfig(devenv, "dave@example.com"), argo.EMBED, "--watch")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert "  embed: Failed" in result.stdout and "exit code 2" in result.stdout
    assert "Failed" in result.stdout.splitlines()[-1]
    assert result.stdout.splitlines()[-1].startswith("✗ run embed-corpus-")


def test_runs_are_never_planned_or_pruned_even_with_mlcps_labels(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    # a run that copies every ownership label of the template it came from
    template = argo.argo(k8s_admin).get_namespaced_custom_object(
        *argo.ARGO, repo.vision, "workflowtemplates", argo.TRAIN
    )
    body = {
        "apiVersion": "/".join(argo.ARGO),
        "kind": "Workflow",
        "metadata": {"generateName": "copied-labels-", "labels": template["metadata"]["labels"]},
        "spec": {"workflowTemplateRef": {"name": argo.TRAIN}},
    }
    copied = argo.argo(k8s_admin).create_namespaced_custom_object(*argo.ARGO, repo.vision, "workflows", body)
    plan, _, _ = engine.plan_path(repo.root, repo.targets(kubeconfig), prune=True)
    assert not [c for c in plan.changes if c.ref.kind == "Workflow"]
    assert plan.counts()["delete"] == 0
    name = copied["metadata"]["name"]
    assert argo.argo(k8s_admin).get_namespaced_custom_object(*argo.ARGO, repo.vision, "workflows", name)
