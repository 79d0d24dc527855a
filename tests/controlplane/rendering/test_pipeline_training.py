"""A training step renders to an Argo resource template that creates the TrainingJob kind's TrainJob and waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from controlplane.labels import MANAGED_BY
from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render, roles
from controlplane.rendering.pipeline_training import FAILURE_CONDITION, SUCCESS_CONDITION
from controlplane.rendering.training_job import trainjob_manifest
from controlplane.specs.pipeline_training import TrainingStep
from tests.controlplane.helpers import write
from tests.controlplane.training_steps import PATH, PIPELINE


def _objects(repo: Path) -> dict[tuple[str, str | None, str], dict[str, Any]]:
    write(repo, PATH, PIPELINE)
    return {(o.ref.kind, o.ref.namespace, o.ref.name): o.manifest for o in render(RenderContext(load_repo(repo)))}


def _templates(repo: Path) -> dict[str, dict[str, Any]]:
    template = _objects(repo)[("WorkflowTemplate", "vision", "prepare-and-train")]
    return {t["name"]: t for t in template["spec"]["templates"]}


def test_the_step_creates_its_trainjob_as_the_trainer_and_waits_for_a_condition(repo: Path) -> None:
    train = _templates(repo)["train"]
    assert set(train) == {"name", "resource", "serviceAccountName", "retryStrategy", "timeout"}
    assert train["serviceAccountName"] == "mlcp-trainer"
    assert (train["timeout"], train["retryStrategy"]["limit"]) == ("12h", "1")
    resource = train["resource"]
    assert (resource["action"], resource["setOwnerReference"]) == ("create", True)
    assert resource["successCondition"] == SUCCESS_CONDITION
    assert resource["failureCondition"] == FAILURE_CONDITION


def test_the_manifest_is_the_training_job_kinds_with_a_name_per_run(repo: Path) -> None:
    manifest = yaml.safe_load(_templates(repo)["train"]["resource"]["manifest"])
    loaded = next(s for s in load_repo(repo).of_kind("Pipeline") if s.spec.name == "prepare-and-train")
    step = loaded.spec.spec.steps[1]  # type: ignore[attr-defined]
    assert isinstance(step, TrainingStep)
    meta = manifest["metadata"]
    assert (meta["generateName"], meta["namespace"]) == ("train-", "vision")
    assert manifest == trainjob_manifest(step.training_job, meta, "vision/detector")
    trainer = manifest["spec"]["trainer"]
    assert {"name": "MLFLOW_EXPERIMENT_NAME", "value": "vision/detector"} in trainer["env"]
    assert trainer["resourcesPerNode"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}


def test_the_runs_trainjobs_are_not_mlcps_to_adopt_or_prune(repo: Path) -> None:
    meta = yaml.safe_load(_templates(repo)["train"]["resource"]["manifest"])["metadata"]
    assert MANAGED_BY not in meta["labels"]
    assert meta["labels"] == {"mlcp.dev/pipeline": "prepare-and-train", "mlcp.dev/pipeline-step": "train"}
    standalone = [k for k in _objects(repo) if k[0] == "TrainJob"]
    assert standalone == [("TrainJob", "vision", "finetune-detector")]  # the template's TrainingJob spec only


def test_the_dag_task_keeps_order_and_condition(repo: Path) -> None:
    template = _objects(repo)[("WorkflowTemplate", "vision", "prepare-and-train")]
    [dag] = [t for t in template["spec"]["templates"] if t["name"] == "main"]
    tasks = {t["name"]: t for t in dag["dag"]["tasks"]}
    assert tasks["train"] == {
        "name": "train",
        "template": "train",
        "dependencies": ["prepare"],
        "when": "{{workflow.parameters.publish}} == true",
    }
    assert tasks["evaluate"]["dependencies"] == ["train"]
    assert template["spec"]["serviceAccountName"] == "mlcp-workload"  # every other step


def test_only_the_trainer_may_create_trainjobs(repo: Path) -> None:
    shipped = roles.rules()
    accounts = ("mlcp-workload", "mlcp-trainer")
    granted = {name: [r for r in shipped[name] if "trainjobs" in r["resources"]] for name in accounts}
    assert granted["mlcp-workload"] == []
    assert granted["mlcp-trainer"] == [
        {"apiGroups": ["trainer.kubeflow.org"], "resources": ["trainjobs"], "verbs": ["create", "get"]}
    ]
    binding = _objects(repo)[("RoleBinding", "vision", "mlcp-trainer")]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "mlcp-trainer",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mlcp-trainer", "namespace": "vision"}]


def test_conditions_are_label_selector_requirements_argo_can_parse() -> None:
    """Argo parses them with Kubernetes' label-selector parser: keys must be qualified names (no gjson queries)."""
    for condition in (SUCCESS_CONDITION, FAILURE_CONDITION):
        for requirement in condition.split(","):
            key, op, value = requirement.split(" ")
            assert op == "==" and value.isalpha()
            assert all(part.isalnum() for part in key.split(".")), key


def test_only_a_tenant_with_a_training_step_gets_the_trainer(repo: Path) -> None:
    trainers = {k[1] for k in _objects(repo) if k[2] == "mlcp-trainer"}
    assert trainers == {"vision"}  # nlp has no training step
    (repo / PATH).unlink()
    objects = render(RenderContext(load_repo(repo)))
    assert not [o for o in objects if o.ref.name == "mlcp-trainer"]
