"""An Experiment's tags are refused at validate, at their line, where MLflow would refuse them at every apply, and
where they are mlcp's or MLflow's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.specs.mlflow_tags import key_problem
from tests.controlplane.helpers import assert_problem, copy_template, edit, line_of, problems

DETECTOR = "tenants/vision/experiments/detector.yaml"


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("owner@example.com", "MLflow takes only letters"),
        ("a//b", "normal relative path"),
        ("./a", "normal relative path"),
        ("/a", "normal relative path"),
        ("a/", "normal relative path"),
        ("..", "normal relative path"),
        ("k" * 251, "at most 250 characters"),
        ("mlcp.dev/managed-by", "is mlcp's own"),
        ("mlcp.dev/grant.0123456789abcdef", "is mlcp's own"),
        ("MLCP.dev/tenant", "is mlcp's own"),
        ("mlflow.note.content", "is MLflow's own"),
    ],
)
def test_a_tag_key_mlflow_refuses_or_that_is_not_the_specs_is_refused_at_its_line(
    tmp_path: Path, key: str, why: str
) -> None:
    repo = copy_template(tmp_path)
    path = edit(repo, DETECTOR, "      team: vision\n", f"      team: vision\n      '{key}': x\n")
    assert_problem(repo, DETECTOR, line_of(path, f"'{key}'"), why)


def test_keys_mlflow_takes_pass() -> None:
    for key in ("team", "stage: prod", "a/b.c-d_e", "données"):
        assert key_problem(key) is None, key


def test_long_values_descriptions_and_names_are_refused_before_apply(tmp_path: Path) -> None:
    repo = copy_template(tmp_path)
    path = edit(repo, DETECTOR, "team: vision", f"team: {'v' * 20_001}")
    assert_problem(repo, DETECTOR, line_of(path, "team:"), "values of at most 20000 characters")
    edit(repo, DETECTOR, f"team: {'v' * 20_001}", "team: vision")
    edit(repo, DETECTOR, "Object detector training runs.", "d" * 20_001)
    assert_problem(repo, DETECTOR, line_of(path, "description:"), "at most 20000 characters")
    edit(repo, DETECTOR, "d" * 20_001, "ok")
    edit(repo, DETECTOR, "name: vision/detector", f"name: vision/{'n' * 500}")
    assert_problem(repo, DETECTOR, line_of(path, "name: vision/"), "at most 500 characters")
    edit(repo, DETECTOR, f"name: vision/{'n' * 500}", "name: vision/detector")
    assert problems(repo) == []


def test_the_list_of_keys_mlcp_records_fits_mlflows_tag(tmp_path: Path) -> None:
    repo = copy_template(tmp_path)
    many = "".join(f"      k{i:03d}{'x' * 240}: v\n" for i in range(90))
    path = edit(repo, DETECTOR, "      team: vision\n", many)
    assert_problem(repo, DETECTOR, line_of(path, "k000"), "mlcp.dev/managed-tags")
