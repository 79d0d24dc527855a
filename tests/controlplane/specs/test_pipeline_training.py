"""A pipeline's training step: chosen by `trainingJob`, checked with TrainingJob's rules against its own tenant."""

from __future__ import annotations

from pathlib import Path

from controlplane.loading.repo import load_repo
from controlplane.specs import Pipeline
from controlplane.specs.pipeline_steps import Step
from controlplane.specs.pipeline_training import TrainingStep
from tests.controlplane.helpers import assert_problem, edit, line_of, problems, write
from tests.controlplane.training_steps import PATH, PIPELINE


def test_a_step_with_training_job_is_a_training_step(repo: Path) -> None:
    write(repo, PATH, PIPELINE)
    assert problems(repo) == []
    [loaded] = [s for s in load_repo(repo).of_kind("Pipeline") if s.spec.name == "prepare-and-train"]
    assert isinstance(loaded.spec, Pipeline)
    kinds = [type(s) for s in loaded.spec.spec.steps]
    assert kinds == [Step, TrainingStep, Step]
    train = loaded.spec.spec.steps[1]
    assert isinstance(train, TrainingStep)
    assert (train.training_job.num_nodes, train.training_job.experiment, train.timeout) == (2, "detector", "12h")


def test_an_experiment_of_another_tenant_is_refused(repo: Path) -> None:
    path = write(repo, PATH, PIPELINE.replace("experiment: detector", "experiment: sentiment"))  # nlp's
    found = assert_problem(
        repo, PATH, line_of(path, "experiment: sentiment"), "experiment 'sentiment' is not an Experiment of tenant"
    )
    assert "detector" in found.hint


def test_a_typo_in_the_training_points_at_the_field_without_the_union_tag(repo: Path) -> None:
    path = write(repo, PATH, PIPELINE.replace("numNodes: 2", "numNode: 2"))
    found = assert_problem(repo, PATH, line_of(path, "numNode: 2"), "spec.steps[1].trainingJob.numNode: unknown field")
    assert found.hint == "did you mean `numNodes`?"


def test_a_typo_in_a_container_step_is_reported_against_the_container_only(repo: Path) -> None:
    path = write(repo, PATH, PIPELINE.replace("command: [prepare]", "comand: [prepare]"))
    found = assert_problem(repo, PATH, line_of(path, "comand:"), "spec.steps[0].comand: unknown field")
    assert found.hint == "did you mean `command`?"


def test_container_fields_on_a_training_step_are_refused(repo: Path) -> None:
    path = write(repo, PATH, PIPELINE.replace("      timeout: 12h\n", "      timeout: 12h\n      image: x:1\n"))
    assert_problem(repo, PATH, line_of(path, "image: x:1"), "spec.steps[1].image: unknown field")


def test_a_secret_of_mlcps_own_is_refused(repo: Path) -> None:
    write(repo, PATH, PIPELINE.replace("name: hf-credentials", "name: mlcp-reconciler-token"))
    found = problems(repo)
    assert len(found) == 1 and "'mlcp-reconciler-token' is mlcp's own" in found[0].message, found


def test_a_training_job_spec_refuses_mlcps_secrets_too(repo: Path) -> None:
    job = "tenants/vision/training/finetune-detector.yaml"
    edit(repo, job, "name: hf-credentials", "name: mlcp-deployer-token")
    assert "'mlcp-deployer-token' is mlcp's own" in problems(repo)[0].message


def test_a_container_steps_field_on_a_training_step_says_it_is_the_wrong_kind(repo: Path) -> None:
    path = write(repo, PATH, PIPELINE.replace("      timeout: 12h\n", "      timeout: 12h\n      withItems: [a, b]\n"))
    found = assert_problem(repo, PATH, line_of(path, "withItems"), "spec.steps[1].withItems: unknown field")
    assert found.hint == "`withItems` is not allowed in this kind of `steps` item"


def test_nodes_the_quota_cannot_hold_together_are_refused_at_the_field(repo: Path) -> None:
    """Five nodes of one GPU under a quota of four: each run's TrainJob is created and its pods never all start."""
    path = write(repo, PATH, PIPELINE.replace("numNodes: 2", "numNodes: 5"))
    found = assert_problem(
        repo, PATH, line_of(path, "resourcesPerNode:"), "each training node needs nvidia.com/gpu 1 x 5 replicas"
    )
    assert "requests.nvidia.com/gpu: 4" in found.message


def test_a_node_above_the_limit_range_max_is_refused_at_the_field(repo: Path) -> None:
    """The API server refuses every node's pod whose limit is above the LimitRange's max: the step never trains."""
    edit(repo, "tenants/vision/quota.yaml", "  limitRange:\n", "  limitRange:\n    max: {cpu: '10'}\n")
    path = write(repo, PATH, PIPELINE.replace('cpu: "4"', 'cpu: "12"'))
    assert_problem(
        repo, PATH, line_of(path, "resourcesPerNode:"), "each training node asks for cpu 12, above the most the"
    )
