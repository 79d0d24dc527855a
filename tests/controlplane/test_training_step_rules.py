"""Training steps: no run parameter reaches the TrainJob's manifest, and their names make valid TrainJob names."""

from __future__ import annotations

from pathlib import Path

from tests.controlplane.helpers import assert_problem, line_of, problems, write
from tests.controlplane.training_steps import PATH, PIPELINE


def test_a_template_tag_in_the_training_is_refused(repo: Path) -> None:
    old, new = 'args: [--epochs, "10"]', 'args: [--epochs, "{{workflow.parameters.publish}}"]'
    path = write(repo, PATH, PIPELINE.replace(old, new))
    found = [d for d in problems(repo) if "takes no `{{...}}`" in d.message]
    assert [(d.path, d.line) for d in found] == [(PATH, line_of(path, "--epochs"))], found


def test_a_template_tag_in_the_training_image_is_refused_as_an_image(repo: Path) -> None:
    old, new = "image: ghcr.io/example/vision-train:2.0.0", "image: ghcr.io/example/t:{{pod.name}}"
    path = write(repo, PATH, PIPELINE.replace(old, new))
    assert_problem(repo, PATH, line_of(path, "{{pod.name}}"), "`{{...}}` is substituted only in a pipeline's container")


def test_an_env_value_with_a_tag_is_pointed_at_by_its_key(repo: Path) -> None:
    text = PIPELINE.replace(
        "        experiment: detector\n", "        experiment: detector\n        env: {LR: '{{x}}'}\n"
    )
    path = write(repo, PATH, text)
    assert_problem(repo, PATH, line_of(path, "LR:"), "takes no `{{...}}`")


def test_a_training_step_name_must_start_with_a_letter(repo: Path) -> None:
    text = PIPELINE.replace("- name: train\n", "- name: 2nd-train\n").replace("[train]", "[2nd-train]")
    path = write(repo, PATH, text)
    found = [d for d in problems(repo) if "must start with a letter" in d.message]
    assert [(d.path, d.line) for d in found] == [(PATH, line_of(path, "name: 2nd-train"))]


def test_the_steps_when_is_resolved_like_any_steps(repo: Path) -> None:
    path = write(repo, PATH, PIPELINE.replace("parameters.publish}} == true", "parameters.publsh}} == true"))
    assert_problem(repo, PATH, line_of(path, "publsh"), "no parameter 'publsh'")


def test_a_training_step_has_no_result_for_later_steps(repo: Path) -> None:
    text = PIPELINE.replace(
        "      command: [evaluate]\n",
        '      command: [evaluate]\n      when: "{{tasks.train.outputs.result}} == ok"\n',
    )
    path = write(repo, PATH, text)
    assert_problem(repo, PATH, line_of(path, "tasks.train.outputs.result"), "cannot be resolved")


def test_the_timeout_is_a_duration(repo: Path) -> None:
    path = write(repo, PATH, PIPELINE.replace("timeout: 12h", "timeout: twelve hours"))
    assert_problem(repo, PATH, line_of(path, "timeout: twelve"), "'twelve hours' is not a duration")


def test_a_template_tag_from_the_experiments_tracking_name_is_refused_at_the_step(repo: Path) -> None:
    """The TrainJob's manifest holds the MLflow name of the Experiment it logs to, another spec: a run parameter
    there would be written into the manifest by Argo as text, like one in the step's own fields."""
    write(repo, PATH, PIPELINE)
    experiment = repo / "tenants/vision/experiments/detector.yaml"
    experiment.write_text(
        experiment.read_text().replace("name: vision/detector", 'name: "vision/{{workflow.parameters.publish}}"')
    )
    found = assert_problem(repo, PATH, line_of(repo / PATH, "experiment: detector"), "would hold `{{`")
    assert "the MLflow name of Experiment 'detector'" in found.message, found.message
    assert found.hint == "remove `{{` from the tracking name of Experiment 'detector'"


def test_a_template_tag_in_the_pipelines_file_name_is_refused_at_the_step(repo: Path) -> None:
    path = "tenants/vision/pipelines/{{workflow.parameters.publish}}.yaml"
    write(repo, path, PIPELINE)
    found = assert_problem(repo, path, line_of(repo / path, "- name: train"), "would hold `{{`")
    assert "the pipeline file's path (annotation mlcp.dev/source)" in found.message and found.hint == "rename the file"


def test_a_training_step_name_leaves_room_for_the_pod_names_jobset_derives(repo: Path) -> None:
    """Each run's TrainJob is `<step>-xxxxx`; JobSet refuses its JobSet unless `<trainjob>-node-0-1-xxxxx` (two
    nodes) fits 63 characters: a 42-character step name is the longest that runs."""
    longest = "t" * 42
    write(repo, PATH, PIPELINE.replace("- name: train\n", f"- name: {longest}\n").replace("[train]", f"[{longest}]"))
    assert problems(repo) == []
    name = "t" * 43
    path = write(repo, PATH, PIPELINE.replace("- name: train\n", f"- name: {name}\n").replace("[train]", f"[{name}]"))
    found = assert_problem(repo, PATH, line_of(path, f"name: {name}"), "<name>-node-0-1-xxxxx")
    assert "at most 42 characters" in found.hint


def test_a_runtime_with_a_launcher_needs_a_shorter_name(repo: Path) -> None:
    """Trainer's MPI runtimes add a `launcher` job: `<trainjob>-launcher-0-0-xxxxx` is the longest pod name."""
    name = "t" * 39
    text = PIPELINE.replace("- name: train\n", f"- name: {name}\n").replace("[train]", f"[{name}]")
    path = write(repo, PATH, text.replace("name: torch-distributed", "name: mpi-distributed"))
    found = assert_problem(repo, PATH, line_of(path, f"name: {name}"), "<name>-launcher-0-0-xxxxx")
    assert "at most 38 characters" in found.hint


def test_the_steps_when_is_read_as_argo_reads_any_steps(repo: Path) -> None:
    path = write(repo, PATH, PIPELINE.replace("parameters.publish}} == true", "parameters.publish}} == yes-please"))
    assert_problem(repo, PATH, line_of(path, "yes-please"), "`-` subtracts numbers")
