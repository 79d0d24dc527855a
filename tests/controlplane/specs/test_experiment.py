"""Experiment: tracking always, tuning only when declared and coherent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.specs import Experiment
from tests.controlplane.helpers import assert_problem, copy_template, edit, line_of, problems, write

DETECTOR = "tenants/vision/experiments/detector.yaml"


def test_mlflow_name_defaults_to_tenant_slash_name(template: Any) -> None:
    sentiment = Experiment.model_validate(template("tenants/nlp/experiments/sentiment.yaml"))
    assert sentiment.spec.tuning is None
    assert sentiment.mlflow_name("nlp") == "nlp/sentiment"
    assert Experiment.model_validate(template(DETECTOR)).mlflow_name("vision") == "vision/detector"


def test_only_a_tuning_bounds_the_name_by_the_spec_label(template: Any) -> None:
    tracking = template("tenants/nlp/experiments/sentiment.yaml")  # MLflow only: no label to fit
    tracking["metadata"]["name"] = "s" * 63
    assert Experiment.model_validate(tracking).name == "s" * 63
    tuning = template(DETECTOR)  # renders a Katib Experiment labelled `mlcp.dev/spec: Experiment.<name>`
    tuning["metadata"]["name"] = "d" * 53
    with pytest.raises(ValidationError, match="at most 52 fit"):
        Experiment.model_validate(tuning)


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ({"name": "lr", "type": "double", "min": 0.1}, "needs `min` and `max`"),
        ({"name": "lr", "type": "double", "min": 0.5, "max": 0.1}, "`min` must be below `max`"),
        ({"name": "lr", "type": "int", "min": 1, "max": 5, "values": ["2"]}, "takes no `values`"),
        ({"name": "opt", "type": "categorical"}, "needs `values`"),
        ({"name": "lr", "type": "double", "min": 0, "max": 1, "step": 0}, "greater than 0"),
    ],
)
def test_incoherent_search_parameters_are_refused(template: Any, parameter: dict[str, Any], message: str) -> None:
    data = template(DETECTOR)
    data["spec"]["tuning"]["parameters"] = [parameter]
    with pytest.raises(ValidationError, match=message):
        Experiment.model_validate(data)


def test_categorical_parameters_take_values(template: Any) -> None:
    data = template(DETECTOR)
    data["spec"]["tuning"]["parameters"] = [{"name": "optimizer", "type": "categorical", "values": ["adam", "sgd"]}]
    tuning = Experiment.model_validate(data).spec.tuning
    assert tuning is not None
    assert tuning.parameters[0].values == ["adam", "sgd"]


def test_more_parallel_trials_than_trials_is_refused(template: Any) -> None:
    data = template(DETECTOR)
    data["spec"]["tuning"].update(parallelTrials=5, maxTrials=4)
    with pytest.raises(ValidationError, match="`parallelTrials` cannot exceed `maxTrials`"):
        Experiment.model_validate(data)


def test_unknown_algorithm_is_refused(template: Any) -> None:
    data = template(DETECTOR)
    data["spec"]["tuning"]["algorithm"]["name"] = "genetic"
    with pytest.raises(ValidationError, match="'random', 'grid'"):
        Experiment.model_validate(data)


SENTIMENT = "tenants/nlp/experiments/sentiment.yaml"


def _located(repo: Path, location: str) -> None:
    edit(repo, SENTIMENT, "    tags:\n", f"    artifactLocation: '{location}'\n    tags:\n")


@pytest.mark.parametrize(
    "location",
    [
        "mlflow-artifacts://collector.evil.example.com/nlp/runs",
        "https://collector.evil.example.com/artifacts",
        "http://collector.evil.example.com/artifacts",
        "file:///srv/mlflow/artifacts/vision",
        "s3://nlp-artifacts/../vision-artifacts",
    ],
)
def test_an_artifact_root_sending_runs_elsewhere_is_refused_at_its_line(tmp_path: Path, location: str) -> None:
    """With a host (or http), MLflow's client sends the runs' artifacts, and the tracking credentials, there."""
    repo = copy_template(tmp_path / "repo")
    _located(repo, location)
    assert_problem(repo, SENTIMENT, 9, f"artifactLocation {location!r}")


def test_the_tracking_servers_store_is_used_under_the_tenants_own_folder(tmp_path: Path) -> None:
    repo = copy_template(tmp_path / "repo")
    _located(repo, "mlflow-artifacts:/vision/sentiment")
    found = assert_problem(repo, SENTIMENT, 9, "is outside tenant 'nlp''s artifact roots (mlflow-artifacts:/nlp/)")
    assert found.hint.startswith("put it under mlflow-artifacts:/nlp/")
    edit(repo, SENTIMENT, "mlflow-artifacts:/vision/sentiment", "mlflow-artifacts:/nlp/sentiment")
    assert problems(repo) == []


def _tuning(repo: Path, name: str) -> str:
    """A second tuning experiment, the template's detector named `name` (tracked as vision/<name>)."""
    text = (repo / DETECTOR).read_text().replace("name: detector", f"name: {name}")
    write(repo, f"tenants/vision/experiments/{name}.yaml", text.replace("vision/detector", f"vision/{name}"))
    return f"tenants/vision/experiments/{name}.yaml"


def test_a_tuning_name_katibs_webhook_refuses_is_refused_at_the_name(repo: Path) -> None:
    """Katib's webhook refuses `2024-detector` after the spec's other objects are written: a partial apply."""
    path = _tuning(repo, "2024-detector")
    assert_problem(repo, path, 5, "Experiment '2024-detector' must start with a letter: Katib's webhook")


def test_a_tuning_name_too_long_for_katibs_suggestion_service_is_refused(repo: Path) -> None:
    """`<name>-bayesianoptimization` over 63 characters: the suggestion's Service is never created, no trial runs."""
    name = "d" * 43  # within the spec label's 52, and 43 + 1 + 20 = 64
    path = _tuning(repo, name)
    found = assert_problem(repo, path, 5, f"Experiment '{name}' has 43 characters, more than 42")
    assert "`<name>-bayesianoptimization`" in found.message and found.hint == "shorten it to at most 42 characters"
    edit(repo, path, "name: bayesianoptimization", "name: tpe")  # `<name>-tpe` fits
    assert problems(repo) == []


def test_a_tracking_only_experiment_takes_any_dns_label(repo: Path) -> None:
    text = (repo / "tenants/nlp/experiments/sentiment.yaml").read_text()
    write(repo, "tenants/nlp/experiments/2024-sentiment.yaml", text.replace("sentiment", "2024-sentiment"))
    assert problems(repo) == []  # MLflow only: Katib never sees it


@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        # maxFailedTrials is 3 unless set: Katib's webhook refuses more allowed failures than trials
        ({"maxTrials": 2, "parallelTrials": 1, "maxFailedTrials": 3}, "`maxFailedTrials` (3, 3 unless set) cannot"),
        (
            {"objective": {"metric": "val_map", "type": "maximize", "additionalMetrics": ["loss", "val_map"]}},
            "'val_map' is the objective's metric: Katib refuses it among `additionalMetrics`",
        ),
    ],
)
def test_counts_and_metrics_katibs_webhook_refuses_are_refused(
    template: Any, tuning: dict[str, Any], message: str
) -> None:
    """Refused by Katib's webhook at apply, after the spec's other objects were written: a partial apply."""
    data = template(DETECTOR)
    data["spec"]["tuning"].update(tuning)
    with pytest.raises(ValidationError, match=re.escape(message)):
        Experiment.model_validate(data)


def test_a_trial_pipeline_of_several_steps_needs_its_metrics_step(repo: Path) -> None:
    """train-detector runs fetch-data, train and evaluate: without `primaryPodLabels` Katib's pod webhook puts the
    collector into all three pods and wraps each command in `sh -c` (kubeflow/katib pkg/webhook/v1beta1/pod)."""
    edit(repo, DETECTOR, "    metricsStep: train\n", "")
    found = assert_problem(repo, DETECTOR, line_of(repo / DETECTOR, "trialPipeline:"), "runs 3 pods per run")
    assert "set `metricsStep`" in found.hint and "fetch-data, train, evaluate" in found.hint


@pytest.mark.parametrize(
    ("step", "message"),
    [("trian", "has no container step 'trian'"), ("fetch-data", None)],
)
def test_the_metrics_step_is_a_container_step_of_the_trial_pipeline(repo: Path, step: str, message: str | None) -> None:
    edit(repo, DETECTOR, "    metricsStep: train\n", f"    metricsStep: {step}\n")
    if message is None:
        assert problems(repo) == []
    else:
        found = assert_problem(repo, DETECTOR, line_of(repo / DETECTOR, "metricsStep:"), message)
        assert "one of fetch-data, train, evaluate" in found.hint


def test_a_training_step_is_no_metrics_step(repo: Path) -> None:
    """Its pod is Argo's executor creating a TrainJob: the training's output is elsewhere."""
    pipeline = "tenants/vision/pipelines/train-detector.yaml"
    edit(
        repo,
        pipeline,
        "    - name: evaluate\n      image: ghcr.io/example/vision-train:2.1.0\n"
        "      command: [python, -m, evaluate]\n",
        "    - name: evaluate\n      trainingJob:\n        runtime: {name: torch-distributed}\n"
        "        image: ghcr.io/example/vision-train:2.1.0\n        command: [python, -m, evaluate]\n"
        "        experiment: detector\n",
    )
    edit(repo, DETECTOR, "    metricsStep: train\n", "    metricsStep: evaluate\n")
    found = [p for p in problems(repo) if p.path == DETECTOR]
    assert [p.line for p in found] == [line_of(repo / DETECTOR, "metricsStep:")], found
    assert "it is a training step, whose pod only creates its TrainJob" in found[0].message
