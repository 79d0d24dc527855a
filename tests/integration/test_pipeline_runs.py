"""Richer pipelines, applied by mlcp, run by Argo's own controller on KWOK: what the spec promises, Argo does.

Each capability is one small pipeline of the tenant, applied once for the
module; the runs are submitted together and waited for afterwards, so the
module costs about as long as its slowest run. KWOK completes every pod with
the exit code a pod annotation chooses (devenv/kwok.py), which is
how a step is made to fail.
"""

from __future__ import annotations

import secrets
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane.labels import STEP_LABEL
from controlplane.rendering.context import TENANT_WORKLOAD_SA
from devenv import kwok, taskresults, testing
from tests.integration import argo_support as argo
from tests.integration import configrepo

pytestmark = pytest.mark.integration

PIPELINES = {
    "retrying": """
        steps:
          - name: flaky
            image: ghcr.io/example/flaky:1.0
            command: [flaky]
            retry: {limit: 2}
    """,
    "notified": """
        steps:
          - name: work
            image: ghcr.io/example/work:1.0
            command: [work]
        onExit:
          name: notify
          image: ghcr.io/example/notify:1.0
          command: [notify]
          args: ["{{workflow.status}}"]
    """,
    "gated": """
        parameters:
          - {name: deploy, value: "false", enum: ["true", "false"]}
        steps:
          - name: train
            image: ghcr.io/example/train:1.0
            command: [train]
          - name: deploy
            image: ghcr.io/example/deploy:1.0
            command: [deploy]
            dependsOn: [train]
            when: "{{workflow.parameters.deploy}} == true"
          - name: hold
            image: ghcr.io/example/deploy:1.0
            command: [hold]
            dependsOn: [train]
            when: "{{workflow.parameters.deploy}} != true"
    """,
    "fanned": """
        steps:
          - name: per-region
            image: ghcr.io/example/eval:1.0
            command: [evaluate]
            withItems: [eu, us, apac]
            parameters:
              - {name: region, value: "{{item}}"}
            args: ["--region", "{{inputs.parameters.region}}"]
          - name: collect
            image: ghcr.io/example/eval:1.0
            command: [collect]
            dependsOn: [per-region]
    """,
    "evolving": """
        steps:
          - name: fit
            image: ghcr.io/example/fit:1.0
            command: [fit]
    """,
    "passing": """
        steps:
          - name: measure
            image: ghcr.io/example/measure:1.0
            command: [measure]
            outputs:
              parameters:
                - {name: accuracy, path: /tmp/accuracy}
                - {name: shards, path: /tmp/shards.json}
          - name: report
            image: ghcr.io/example/report:1.0
            command: [report]
            dependsOn: [measure]
            parameters:
              - {name: accuracy, value: "{{tasks.measure.outputs.parameters.accuracy}}"}
            args: ["--accuracy", "{{inputs.parameters.accuracy}}"]
          - name: deploy
            image: ghcr.io/example/deploy:1.0
            command: [deploy]
            dependsOn: [measure]
            when: "{{tasks.measure.outputs.parameters.accuracy}} > 0.9"
          - name: per-shard
            image: ghcr.io/example/embed:1.0
            command: [embed]
            dependsOn: [measure]
            withParam: "{{tasks.measure.outputs.parameters.shards}}"
            parameters:
              - {name: shard, value: "{{item}}"}
            args: ["--shard", "{{inputs.parameters.shard}}"]
    """,
    "ticking": """
        steps:
          - name: tick
            image: ghcr.io/example/tick:1.0
            command: [tick]
        schedule:
          cron: "@every 5s"
    """,
}


@pytest.fixture(scope="module")
def repo(
    tmp_path_factory: pytest.TempPathFactory, devenv: testing.TestTarget, kubeconfig: Path, k8s_admin: client.ApiClient
) -> Iterator[configrepo.ConfigRepo]:
    """The template plus the pipelines above in vision's folder, applied once by mlcp."""
    argo.require_argo(devenv)
    repo = configrepo.make(tmp_path_factory.mktemp("pipelines"), f"t-pipe-{secrets.token_hex(3)}")
    for name, spec in PIPELINES.items():
        head = f"apiVersion: mlcp.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: {name}\nspec:\n"
        body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
        repo.path(f"tenants/{repo.vision}/pipelines/{name}.yaml").write_text(f"{head}{body}\n", encoding="utf-8")
    repo.commit("example pipelines (platform team)")
    argo.apply(repo, kubeconfig)
    yield repo
    client.CoreV1Api(k8s_admin).delete_namespace(repo.vision)
    client.CoreV1Api(k8s_admin).delete_namespace(repo.nlp)


@pytest.fixture(scope="module")
def runs(repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient) -> dict[str, dict[str, Any]]:
    """Every run the tests below look at, submitted at once and then waited for (KWOK: ~1 s a pod)."""
    fail = kwok.EXIT_CODE_ANNOTATION
    out = f"{taskresults.OUTPUT_ANNOTATION}.measure"  # what the stand-in for argoexec reports as measure's outputs
    wanted: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
        "retried": ("retrying", {f"{fail}.flaky": "1"}, {}),
        "notified-ok": ("notified", {}, {}),
        "notified-failed": ("notified", {f"{fail}.work": "1"}, {}),
        "deploying": ("gated", {}, {"deploy": "true"}),
        "holding": ("gated", {}, {}),
        "fanned": ("fanned", {}, {}),
        "passed-high": ("passing", {f"{out}.accuracy": "0.95", f"{out}.shards": '["s1", "s2"]'}, {}),
        "passed-low": ("passing", {f"{out}.accuracy": "0.5", f"{out}.shards": '["s1", "s2", "s3"]'}, {}),
    }
    names = {key: argo.submit(k8s_admin, repo.vision, p, a, params) for key, (p, a, params) in wanted.items()}
    done = {key: argo.finished(k8s_admin, repo.vision, name) for key, name in names.items()}
    missing = [key for key, wf in done.items() if "not found" in wf["status"].get("message", "")]
    for key in missing:  # a template the controller's informer had not seen yet: submit once more
        template, annotations, params = wanted[key]
        done[key] = argo.run(k8s_admin, k8s_admin, repo.vision, template, annotations, params)
    return done


def _by_template(wf: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """A run's nodes by the template they ran, without the DAG."""
    nodes: dict[str, list[dict[str, Any]]] = {}
    for node in wf["status"]["nodes"].values():
        if node["type"] != "DAG":
            nodes.setdefault(node.get("templateName", ""), []).append(node)
    return nodes


def test_a_failing_step_is_retried_the_declared_number_of_times(runs: dict[str, dict[str, Any]]) -> None:
    wf = runs["retried"]
    assert wf["status"]["phase"] == "Failed"
    flaky = _by_template(wf)["flaky"]
    retry = [n for n in flaky if n["type"] == "Retry"]
    attempts = [n for n in flaky if n["type"] == "Pod"]
    assert len(retry) == 1 and retry[0]["phase"] == "Failed"
    assert len(attempts) == 3, "the first attempt and `retry.limit: 2` more"
    assert all(n["phase"] == "Failed" and "exit code 1" in n["message"] for n in attempts)
    assert sorted(n["displayName"] for n in attempts) == ["flaky(0)", "flaky(1)", "flaky(2)"]


@pytest.mark.parametrize(("key", "phase"), [("notified-ok", "Succeeded"), ("notified-failed", "Failed")])
def test_the_exit_handler_runs_whatever_the_outcome(runs: dict[str, dict[str, Any]], key: str, phase: str) -> None:
    wf = runs[key]
    assert wf["status"]["phase"] == phase
    nodes = _by_template(wf)
    assert [n["phase"] for n in nodes["work"]] == [phase]
    (notify,) = nodes["notify"]
    assert notify["phase"] == "Succeeded"
    assert notify["startedAt"] >= nodes["work"][0]["finishedAt"], "after the pipeline's steps"


@pytest.mark.parametrize(("key", "ran", "skipped"), [("deploying", "deploy", "hold"), ("holding", "hold", "deploy")])
def test_a_condition_runs_and_skips_the_right_steps(
    runs: dict[str, dict[str, Any]],
    k8s_admin: client.ApiClient,
    repo: configrepo.ConfigRepo,
    key: str,
    ran: str,
    skipped: str,
) -> None:
    wf = runs[key]
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    nodes = _by_template(wf)
    assert [(n["type"], n["phase"]) for n in nodes[ran]] == [("Pod", "Succeeded")]
    assert [(n["type"], n["phase"]) for n in nodes[skipped]] == [("Skipped", "Skipped")]
    assert sorted(argo.step_of(p) for p in argo.pods(k8s_admin, repo.vision, wf)) == sorted(["train", ran])


def test_a_fan_out_makes_one_pod_per_item(
    runs: dict[str, dict[str, Any]], k8s_admin: client.ApiClient, repo: configrepo.ConfigRepo
) -> None:
    wf = runs["fanned"]
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    pods = argo.pods(k8s_admin, repo.vision, wf)
    regions = [p for p in pods if argo.step_of(p).startswith("per-region")]
    assert len(regions) == 3 and len(pods) == 4
    mains = [next(c for c in p.spec.containers if c.name == "main") for p in regions]
    argv = sorted([*(c.command or []), *(c.args or [])][-2:] for c in mains)  # after Argo's emissary
    assert argv == [["--region", "apac"], ["--region", "eu"], ["--region", "us"]]
    collect = _by_template(wf)["collect"][0]
    assert all(collect["startedAt"] >= n["finishedAt"] for n in _by_template(wf)["per-region"] if n["type"] == "Pod")


def test_a_pipeline_edit_applied_by_mlcp_is_used_by_the_next_run(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    def image(wf: dict[str, Any]) -> str:
        (pod,) = argo.pods(k8s_admin, repo.vision, wf)
        return str(next(c for c in pod.spec.containers if c.name == "main").image)

    before = argo.run(k8s_admin, k8s_admin, repo.vision, "evolving")
    assert image(before) == "ghcr.io/example/fit:1.0"
    repo.edit(f"tenants/{repo.vision}/pipelines/evolving.yaml", "fit:1.0", "fit:2.0")
    repo.commit("fit 2.0")
    argo.apply(repo, kubeconfig)
    time.sleep(1)  # the controller reads templates from its informer: let the update reach it
    after = argo.run(k8s_admin, k8s_admin, repo.vision, "evolving")
    assert after["status"]["phase"] == "Succeeded", after["status"].get("message")
    assert image(after) == "ghcr.io/example/fit:2.0"
    assert image(before) == "ghcr.io/example/fit:1.0", "the earlier run is left as it ran"


def test_a_cron_workflow_creates_a_run_when_it_fires(repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient) -> None:
    """`@every 5s`: the first run starts within seconds of the apply; the schedule is paused afterwards."""

    def scheduled() -> list[dict[str, Any]]:
        listed = argo.argo(k8s_admin).list_namespaced_custom_object(
            *argo.ARGO, repo.vision, "workflows", label_selector=f"{argo.CRON_LABEL}=ticking"
        )
        items: list[dict[str, Any]] = listed["items"]
        return items

    try:
        first = argo.wait(scheduled, 60, "the CronWorkflow ticking to fire")[0]
        assert first["spec"]["workflowTemplateRef"] == {"name": "ticking"}
        wf = argo.finished(k8s_admin, repo.vision, first["metadata"]["name"])
        assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
        assert list(argo.steps(wf)) == ["tick"]
    finally:
        argo.argo(k8s_admin).patch_namespaced_custom_object(
            *argo.ARGO, repo.vision, "cronworkflows", "ticking", {"spec": {"suspend": True}}
        )


@pytest.mark.parametrize(
    ("key", "accuracy", "deployed", "shards"),
    [("passed-high", "0.95", True, ["s1", "s2"]), ("passed-low", "0.5", False, ["s1", "s2", "s3"])],
)
def test_outputs_pass_between_steps_into_arguments_conditions_and_fan_outs(
    runs: dict[str, dict[str, Any]],
    k8s_admin: client.ApiClient,
    repo: configrepo.ConfigRepo,
    key: str,
    accuracy: str,
    deployed: bool,
    shards: list[str],
) -> None:
    """measure's outputs (written by devenv's stand-in for argoexec) reach report's arguments, decide deploy's
    `when`, and make one per-shard pod per item of the JSON list."""
    wf = runs[key]
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    nodes = _by_template(wf)
    (measure,) = nodes["measure"]
    assert {p["name"]: p["value"] for p in measure["outputs"]["parameters"]}["accuracy"] == accuracy

    def argv(step: str) -> list[list[str]]:
        pods = [p for p in argo.pods(k8s_admin, repo.vision, wf) if argo.step_of(p).startswith(step)]
        mains = [next(c for c in p.spec.containers if c.name == "main") for p in pods]
        return sorted([*(c.command or []), *(c.args or [])][-2:] for c in mains)

    assert argv("report") == [["--accuracy", accuracy]]
    assert argv("per-shard") == [["--shard", shard] for shard in shards]
    assert [n["phase"] for n in nodes["deploy"]] == (["Succeeded"] if deployed else ["Skipped"])


def test_every_example_runs_as_the_tenant_workload_account_on_kwok_nodes(
    runs: dict[str, dict[str, Any]], k8s_admin: client.ApiClient, repo: configrepo.ConfigRepo
) -> None:
    expected = {"Succeeded": {"notified-ok", "deploying", "holding", "fanned", "passed-high", "passed-low"}}
    expected["Failed"] = {"retried", "notified-failed"}
    assert {phase: {k for k, wf in runs.items() if wf["status"]["phase"] == phase} for phase in expected} == expected
    for wf in runs.values():
        pods = argo.pods(k8s_admin, repo.vision, wf)
        assert pods
        assert {p.spec.service_account_name for p in pods} == {TENANT_WORKLOAD_SA}
        assert {p.spec.node_name for p in pods} <= set(kwok.NODES)


def test_argo_labels_each_pod_with_its_step_as_katib_selects_it(
    runs: dict[str, dict[str, Any]], k8s_admin: client.ApiClient, repo: configrepo.ConfigRepo
) -> None:
    """A tuning's trial selects the pod its metrics collector goes into by the step label (`primaryPodLabels`,
    rendering.katib): the real workflow-controller copies each template's labels onto its pods, fanned-out ones
    and the exit handler's included."""
    expected = {"fanned": ["collect", "per-region", "per-region", "per-region"], "notified-ok": ["notify", "work"]}
    for key, steps in expected.items():
        pods = argo.pods(k8s_admin, repo.vision, runs[key])
        assert sorted(p.metadata.labels.get(STEP_LABEL, "") for p in pods) == steps
