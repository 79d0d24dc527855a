"""Environment variables: one name rule and one set-once rule for every list that fills a container's `env`.

Each kind renders its lists into one `env`, where the API server refuses a bad name at every pod and Kubernetes
lets the later of two entries of a name win: a TrainingJob's `secretEnv` is rendered after the
`MLFLOW_EXPERIMENT_NAME` mlcp sets from `experiment`, so naming it there sent the job's runs to another experiment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controlplane import training_steps
from tests.controlplane.helpers import assert_problem, edit, line_of, write

TRAIN = "tenants/vision/pipelines/train-detector.yaml"
JOB = "tenants/vision/training/finetune-detector.yaml"
STEP_ENV = "      env:\n        MLFLOW_EXPERIMENT_NAME: vision/detector\n"


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        (STEP_ENV, '      env:\n        "A=B": x\n', "A=B"),
        (STEP_ENV, '      env:\n        "1ST": x\n', "1ST"),
        (STEP_ENV, STEP_ENV + "      envFrom:\n        - {name: 'has space', secret: {name: c, key: k}}\n", "space"),
        ("    DATASET: coco-2017\n", '    "DATA SET": coco-2017\n', "DATA SET"),
        ("    - name: HF_TOKEN\n", "    - name: 'HF TOKEN='\n", "HF TOKEN"),
    ],
    ids=["step-env", "step-env-digit", "step-envFrom", "job-env", "job-secretEnv"],
)
def test_every_env_name_is_checked_by_the_same_rule(repo: Path, old: str, new: str, needle: str) -> None:
    rel = TRAIN if old == STEP_ENV else JOB
    path = edit(repo, rel, old, new)
    found = assert_problem(repo, rel, line_of(path, needle), "is not a valid environment variable name")
    assert "not starting with a digit" in found.message, "says how to fix it"


def test_the_training_jobs_secret_env_cannot_set_the_experiment(repo: Path) -> None:
    """The attack: the job's runs logged to whatever experiment the ConfigMap names, not the reviewed one."""
    new = "  secretEnv:\n    - {name: MLFLOW_EXPERIMENT_NAME, configMap: {name: other, key: exp}}\n"
    path = edit(repo, JOB, "  secretEnv:\n", new)
    assert_problem(
        repo, JOB, line_of(path, "configMap: {name: other"), "MLFLOW_EXPERIMENT_NAME is set from `experiment`"
    )


def test_a_training_steps_secret_env_cannot_set_the_experiment(repo: Path) -> None:
    text = training_steps.PIPELINE.replace("          - name: HF_TOKEN\n", "          - name: MLFLOW_EXPERIMENT_NAME\n")
    path = write(repo, training_steps.PATH, text)
    assert_problem(repo, training_steps.PATH, line_of(path, "- name: MLFLOW"), "is set from `experiment` by mlcp")


@pytest.mark.parametrize(
    ("rel", "old", "new", "needle"),
    [
        (JOB, "  secretEnv:\n", "  secretEnv:\n    - {name: DATASET, configMap: {name: c, key: k}}\n", "name: DATASET"),
        (
            TRAIN,
            STEP_ENV,
            STEP_ENV + "      envFrom:\n        - {name: MLFLOW_EXPERIMENT_NAME, secret: {name: c, key: k}}\n",
            "name: MLFLOW",
        ),
        (
            TRAIN,
            STEP_ENV,
            STEP_ENV + "      envFrom:\n        - {name: T, secret: {name: c, key: k}}\n"
            "        - {name: T, configMap: {name: d, key: k}}\n",
            "configMap: {name: d",
        ),
    ],
    ids=["job-env-and-secretEnv", "step-env-and-envFrom", "step-envFrom-twice"],
)
def test_a_variable_is_set_once(repo: Path, rel: str, old: str, new: str, needle: str) -> None:
    path = edit(repo, rel, old, new)
    assert_problem(repo, rel, line_of(path, needle), "is set twice")
