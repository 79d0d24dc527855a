"""TrainingJob: logs only to an experiment of its own tenant; secrets by reference; rendered as a Trainer TrainJob."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render
from tests.controlplane.helpers import assert_problem, copy_template, edit, problems

JOB = "tenants/vision/training/finetune-detector.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_template(tmp_path / "repo")


def test_the_template_training_job_is_valid(repo: Path) -> None:
    assert problems(repo) == []


def test_an_experiment_of_another_tenant_is_refused(repo: Path) -> None:
    edit(repo, JOB, "experiment: detector", "experiment: sentiment")  # nlp's
    found = assert_problem(repo, JOB, 25, "experiment 'sentiment' is not an Experiment of tenant 'vision'")
    assert "detector" in found.hint


def test_the_experiment_variable_is_not_set_by_hand(repo: Path) -> None:
    edit(repo, JOB, "DATASET: coco-2017", "MLFLOW_EXPERIMENT_NAME: nlp/sentiment")
    assert_problem(repo, JOB, 19, "MLFLOW_EXPERIMENT_NAME is set from `experiment`")


def test_an_environment_variable_name_with_a_trailing_newline_is_refused(repo: Path) -> None:
    edit(repo, JOB, "DATASET: coco-2017", '"DATASET\\n": coco-2017')
    assert_problem(repo, JOB, 19, "'DATASET\\n' is not a valid environment variable name")


def test_an_image_with_braces_is_checked_as_written(repo: Path) -> None:
    edit(repo, JOB, "image: ghcr.io/example/vision-train:2.0.0", 'image: "{{workflow.parameters.image}}"')
    assert_problem(repo, JOB, 15, "`{{...}}` is substituted only in a pipeline's container")  # not a TrainJob's


def test_rendered_as_a_trainjob_logging_to_the_tenants_experiment(repo: Path) -> None:
    [job] = [o for o in render(RenderContext(load_repo(repo))) if o.ref.kind == "TrainJob"]
    spec = job.manifest["spec"]
    assert job.ref.api_version == "trainer.kubeflow.org/v1alpha1" and job.ref.namespace == "vision"
    assert spec["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
        "name": "torch-distributed",
    }
    trainer = spec["trainer"]
    assert trainer["numNodes"] == 2 and trainer["command"] == ["torchrun", "train.py"]
    assert trainer["resourcesPerNode"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert {"name": "MLFLOW_EXPERIMENT_NAME", "value": "vision/detector"} in trainer["env"]
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-credentials", "key": "token"}}} in (
        trainer["env"]
    )


def test_a_name_trainer_would_refuse_is_refused(repo: Path) -> None:
    edit(repo, JOB, "name: finetune-detector", "name: 2nd-finetune")
    assert_problem(repo, JOB, 6, "TrainingJob '2nd-finetune' must start with a letter")


def test_nodes_the_quota_cannot_hold_together_are_refused_at_the_field(repo: Path) -> None:
    """Five nodes of one GPU under a quota of four: the TrainJob is written and never starts."""
    edit(repo, JOB, "numNodes: 2", "numNodes: 5")
    found = assert_problem(repo, JOB, 14, "each training node needs nvidia.com/gpu 1 x 5 replicas, more than")
    assert "requests.nvidia.com/gpu: 4" in found.message


def test_a_node_above_the_limit_range_max_is_refused_at_the_field(repo: Path) -> None:
    edit(repo, "tenants/vision/quota.yaml", "  limitRange:\n", "  limitRange:\n    max: {cpu: '10'}\n")
    edit(repo, JOB, 'cpu: "4"', 'cpu: "12"')
    assert_problem(repo, JOB, 12, "each training node asks for cpu 12, above the most the tenant's quota")


def test_a_name_leaves_room_for_the_pod_names_jobset_derives(repo: Path) -> None:
    """JobSet's webhook refuses the JobSet Trainer makes unless `<name>-node-0-<last node>-xxxxx` fits 63 characters;
    Trainer's own webhook accepts the TrainJob, which then never starts."""
    text = (repo / JOB).read_text(encoding="utf-8")
    (repo / JOB).unlink()
    fits = "f" * 48  # two nodes: 48 + len("-node-0-1-xxxxx") == 63
    (repo / f"tenants/vision/training/{fits}.yaml").write_text(text.replace("finetune-detector", fits))
    assert problems(repo) == []
    (repo / f"tenants/vision/training/{fits}.yaml").unlink()
    long = "f" * 49
    rel = f"tenants/vision/training/{long}.yaml"
    (repo / rel).write_text(text.replace("finetune-detector", long))
    found = assert_problem(repo, rel, 6, "may have at most 48 characters (it has 49)")
    assert found.code == "name"
