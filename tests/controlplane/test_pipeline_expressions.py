"""A pipeline's `when` and `stopWhen` checked as Argo evaluates them: refused at their line, with how to write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controlplane.helpers import assert_problem, edit, line_of, problems

TRAIN = "tenants/vision/pipelines/train-detector.yaml"
SCHEDULE = "    concurrencyPolicy: Forbid\n"


def _when(repo: Path, expression: str) -> Path:
    return edit(repo, TRAIN, "      dependsOn: [train]\n", f"      dependsOn: [train]\n      when: {expression!r}\n")


def test_a_steps_when_argo_cannot_read_is_refused_at_its_line(repo: Path) -> None:
    path = _when(repo, "{{tasks.train.status}} == Succeeded && {{workflow.parameters.epochs}} > ten-ish")
    found = assert_problem(repo, TRAIN, line_of(path, "when:"), "Argo cannot evaluate `when`")
    assert "`-` subtracts numbers" in found.message and "'a-b'" in found.hint
    assert found.code == "expression"


def test_a_steps_when_argo_reads_is_accepted(repo: Path) -> None:
    _when(repo, "{{tasks.train.status}} == Succeeded && {{workflow.parameters.epochs}} > 10")
    assert problems(repo) == []


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("{{run.id}}", "Argo knows no {{run.id}} here"),
        ("{{item}}", "{{item}} is only set in a step that fans out"),
    ],
)
def test_a_tag_argo_leaves_in_the_when_is_refused(repo: Path, tag: str, message: str) -> None:
    path = _when(repo, f"{tag} == 5")
    assert_problem(repo, TRAIN, line_of(path, "when:"), message)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("failed < 3", "'failed' is a variable"),
        ("{{workflow.name}} == x", "a schedule's `when` knows no {{workflow.name}}"),
        ("{{cronworkflow.failed}} <", "ends early"),
    ],
)
def test_a_schedules_when_argo_cannot_read_is_refused(repo: Path, when: str, message: str) -> None:
    path = edit(repo, TRAIN, SCHEDULE, f"{SCHEDULE}    when: {when!r}\n")
    assert_problem(repo, TRAIN, line_of(path, "    when:"), message)


@pytest.mark.parametrize(
    "when",
    [
        "{{cronworkflow.failed}} < 3",
        "'{{cronworkflow.name}}' == 'train-detector'",
        "{{= cronworkflow.lastScheduledTime == nil || (now() - cronworkflow.lastScheduledTime).Seconds() > 3600 }}",
    ],
)
def test_a_schedules_when_argo_reads_is_accepted(repo: Path, when: str) -> None:
    edit(repo, TRAIN, SCHEDULE, f"{SCHEDULE}    when: {when!r}\n")
    assert problems(repo) == []


@pytest.mark.parametrize(
    ("stop", "message"),
    [
        ("{{cronworkflow.failed}} >= 3", "Argo substitutes no {{...}} here"),
        ("cronworkflow.failures >= 3", "cronworkflow has no field 'failures'"),
        ("(cronworkflow.failed >= 3", "'(' is not closed"),
        ("cronworkflow.failed >= 3)", "')' closes nothing open"),
        ("cronworkflow.name == 'x", "a quote is not closed"),
        ("  ", "it is empty"),
    ],
)
def test_a_stop_expression_expr_cannot_read_is_refused(repo: Path, stop: str, message: str) -> None:
    path = edit(repo, TRAIN, SCHEDULE, f"{SCHEDULE}    stopWhen: {stop!r}\n")
    assert_problem(repo, TRAIN, line_of(path, "stopWhen:"), message)


def test_a_stop_expression_on_the_schedules_fields_is_accepted(repo: Path) -> None:
    edit(repo, TRAIN, SCHEDULE, f"{SCHEDULE}    stopWhen: \"cronworkflow.failed >= 3 || cronworkflow.name == ')'\"\n")
    assert problems(repo) == []


@pytest.mark.parametrize(
    ("stop", "message"),
    [
        ('cronworkflow.name matches "^(nightly)-\\\\1"', "not one Go's regexp compiles (invalid escape sequence: \\1)"),
        ("cronworkflow.name matches `(?=nightly)`", "invalid perl operator: (?="),
        ('cronworkflow.name matches "\\d+"', "has an escape expr-lang does not know"),
    ],
)
def test_a_stop_expressions_pattern_expr_lang_cannot_compile_is_refused(repo: Path, stop: str, message: str) -> None:
    """expr-lang compiles the literal pattern of `matches` with Go's regexp: the stop check failed at every tick."""
    path = edit(repo, TRAIN, SCHEDULE, f"{SCHEDULE}    stopWhen: >-\n      {stop}\n")
    found = assert_problem(repo, TRAIN, line_of(path, "stopWhen:"), message)
    assert "RE2" in found.hint


def test_a_stop_expressions_pattern_go_compiles_is_accepted(repo: Path) -> None:
    stop = (
        'cronworkflow.failed >= 3 || cronworkflow.name matches "^nightly-\\\\d+$" || cronworkflow.name matches `\\pL`'
    )
    edit(repo, TRAIN, SCHEDULE, f"{SCHEDULE}    stopWhen: >-\n      {stop}\n")
    assert problems(repo) == []


def test_an_expression_tags_pattern_go_refuses_is_refused_wherever_the_tag_is(repo: Path) -> None:
    """A `{{= ... }}` tag is expr-lang too, evaluated when the step is due: in args as in a `when`."""
    tag = "{{= workflow.parameters.epochs matches '(?=5)' }}"
    path = edit(repo, TRAIN, '"--epochs", "{{workflow.parameters.epochs}}"', f'"--epochs", "{tag}"')
    found = assert_problem(repo, TRAIN, line_of(path, "matches"), "after `matches` is not one Go's regexp compiles")
    assert found.code == "expression"
