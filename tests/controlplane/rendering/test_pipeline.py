"""Pipeline rendering: each capability becomes the Argo field that does it, and nothing loosens pod security."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controlplane.labels import STEP_LABEL
from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render
from tests.controlplane import corpus
from tests.controlplane.helpers import write

CASES = {c.name: c for c in corpus.cases()}


def _rendered(repo: Path, name: str) -> dict[str, dict[str, Any]]:
    write(repo, f"tenants/vision/pipelines/{name}.yaml", CASES[name].text)
    objects = render(RenderContext(load_repo(repo), commits={}))
    return {o.ref.kind: o.manifest for o in objects if o.ref.name == name}


def _templates(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in spec["templates"]}


def test_every_run_is_the_tenants_account_non_root_and_unprivileged(repo: Path) -> None:
    spec = _rendered(repo, "v-everything-else")["WorkflowTemplate"]["spec"]
    assert spec["serviceAccountName"] == "mlcp-workload"
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for name in ("prepare", "train", "notify"):
        assert _templates(spec)[name]["container"]["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
        }


def test_volumes_env_placement_retries_timeouts_and_exit_handler(repo: Path) -> None:
    spec = _rendered(repo, "v-everything-else")["WorkflowTemplate"]["spec"]
    assert spec["volumes"] == [
        {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "datasets", "persistentVolumeClaim": {"claimName": "shared-datasets", "readOnly": True}},
    ]
    claim = spec["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "workdir" and claim["spec"]["resources"]["requests"] == {"storage": "1Gi"}
    assert spec["volumeClaimGC"] == {"strategy": "OnWorkflowCompletion"}
    assert spec["artifactRepositoryRef"] == {"configMap": "artifact-repositories", "key": "default"}
    assert spec["activeDeadlineSeconds"] == 7200 and spec["onExit"] == "notify"
    templates = _templates(spec)
    prepare, train = templates["prepare"], templates["train"]
    assert prepare["retryStrategy"] == {
        "limit": "3",
        "retryPolicy": "Always",
        "backoff": {"duration": "10s", "factor": "2", "maxDuration": "5m"},
    }
    assert prepare["timeout"] == "30m"
    assert prepare["outputs"] == {"artifacts": [{"name": "features", "path": "/tmp/features"}]}
    assert train["inputs"] == {"artifacts": [{"name": "features", "path": "/in/features"}]}
    env = train["container"]["env"]
    assert {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-credentials", "key": "token", "optional": False}},
    } in env
    assert train["nodeSelector"] == {"mlcp.dev/pool": "gpu"}
    assert train["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    node = train["affinity"]["nodeAffinity"]
    assert node["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "mlcp.dev/pool", "operator": "In", "values": ["gpu"]}
    ]
    task = next(t for t in spec["templates"][0]["dag"]["tasks"] if t["name"] == "train")
    assert task["arguments"] == {
        "artifacts": [{"name": "features", "from": "{{tasks.prepare.outputs.artifacts.features}}"}]
    }


def test_conditions_fan_out_and_outputs_live_on_the_dag_task(repo: Path) -> None:
    spec = _rendered(repo, "v-fan-out")["WorkflowTemplate"]["spec"]
    tasks = {t["name"]: t for t in spec["templates"][0]["dag"]["tasks"]}
    assert tasks["per-region"]["withItems"] == ["eu", "us", "apac"]
    assert tasks["per-model"]["withItems"][1] == {"model": "large", "gpus": "4"}
    assert tasks["per-shard"]["withParam"] == "{{tasks.split.outputs.parameters.shards}}"
    assert tasks["per-shard"]["arguments"] == {"parameters": [{"name": "shard", "value": "{{item}}"}]}
    assert _templates(spec)["per-shard"]["inputs"] == {"parameters": [{"name": "shard"}]}
    assert _templates(spec)["split"]["outputs"] == {
        "parameters": [{"name": "shards", "valueFrom": {"path": "/tmp/shards.json"}}]
    }
    assert spec["parallelism"] == 4
    conditional = _rendered(repo, "v-conditional-outputs")["WorkflowTemplate"]["spec"]
    assert conditional["ttlStrategy"] == {"secondsAfterCompletion": 0}, "ttl 0 is kept, not dropped"
    deploy = next(t for t in conditional["templates"][0]["dag"]["tasks"] if t["name"] == "deploy")
    assert deploy["when"].startswith("{{workflow.parameters.deploy}} == true")


def test_a_schedule_keeps_every_cron_workflow_option(repo: Path) -> None:
    cron = _rendered(repo, "v-several-schedules")["CronWorkflow"]["spec"]
    assert cron["schedules"] == ["0 6 * * 1-5", "30 22 * * 0"]
    assert (cron["timezone"], cron["concurrencyPolicy"], cron["startingDeadlineSeconds"]) == (
        "Europe/Berlin",
        "Replace",
        600,
    )
    assert cron["stopStrategy"] == {"expression": "cronworkflow.failed >= 3"}
    assert cron["workflowSpec"] == {
        "workflowTemplateRef": {"name": "v-several-schedules"},
        "arguments": {"parameters": [{"name": "mode", "value": "incremental"}]},
    }


def test_every_container_steps_pods_are_labelled_with_the_step(repo: Path) -> None:
    """Argo labels a pod with its run, not its step; a tuning's Katib trials select the pod that reports the metrics
    by this label (rendering.katib, `primaryPodLabels`). The exit handler's pods too."""
    spec = _rendered(repo, "v-everything-else")["WorkflowTemplate"]["spec"]
    for name in ("prepare", "train", "notify"):
        assert _templates(spec)[name]["metadata"] == {"labels": {STEP_LABEL: name}}
