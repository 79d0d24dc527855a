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
