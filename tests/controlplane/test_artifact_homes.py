"""An Experiment's artifactLocation stays under its tenant's roots, as the trusted base sets them: the ways a
tenant's committer would try to write among another tenant's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.loading.repo import load_repo
from controlplane.registry_names import Established
from controlplane.validation import validate
from tests.controlplane.helpers import assert_problem, edit, only, problems

SENTIMENT = "tenants/nlp/experiments/sentiment.yaml"
S3_ROOTS = ("s3://ml-artifacts/{tenant}/",)
BASE = Established(frozenset({"vision", "nlp"}), "b" * 40, S3_ROOTS)


def _located(repo: Path, location: str) -> None:
    edit(repo, SENTIMENT, "    tags:\n", f"    artifactLocation: '{location}'\n    tags:\n")


def _roots(repo: Path, *templates: str) -> None:
    listed = "".join(f"    - '{t}'\n" for t in templates)
    with (repo / "mlcp.yaml").open("a", encoding="utf-8") as config:
        config.write(f"artifacts:\n  roots:\n{listed}")


@pytest.mark.parametrize(
    "location",
    [
        "s3://ml-artifacts/vision/sentiment",  # vision's folder
        "s3://ml-artifacts/nlpx/sentiment",  # a folder whose name starts with nlp's
        "s3://ml-artifacts/",  # the whole bucket
        "s3://ml-artifacts/nlp/%2e%2e/vision",  # climbing, encoded
        "s3://other/nlp/sentiment",  # another bucket
    ],
)
def test_nlps_experiment_writing_outside_its_root_is_refused_at_its_line(repo: Path, location: str) -> None:
    _roots(repo, *S3_ROOTS)
    _located(repo, location)
    found = assert_problem(repo, SENTIMENT, 9, f"artifactLocation {location!r} is outside tenant 'nlp''s")
    assert "put it under s3://ml-artifacts/nlp/" in found.hint


def test_under_its_own_root_it_is_valid(repo: Path) -> None:
    _roots(repo, *S3_ROOTS)
    _located(repo, "s3://ml-artifacts//nlp/sentiment/")
    assert problems(repo) == []


def test_an_object_store_needs_a_root_the_platform_set(repo: Path) -> None:
    """**Changed (safety):** without `artifacts.roots`, a tenant's root is its folder of the tracking server's
    store; an object store location was any bucket and prefix."""
    _located(repo, "s3://nlp-artifacts/sentiment")
    assert_problem(repo, SENTIMENT, 9, "outside tenant 'nlp''s artifact roots (mlflow-artifacts:/nlp/)")


def test_the_trusted_bases_roots_judge_not_the_revisions(repo: Path) -> None:
    """nlp's committer widens the roots in the revision's own mlcp.yaml and names vision's folder: the base decides."""
    _roots(repo, "s3://ml-artifacts/{tenant}/", "s3://ml-artifacts/vision/{tenant}/")
    _located(repo, "s3://ml-artifacts/vision/nlp/sentiment")
    assert problems(repo) == []  # the revision alone (mlcp validate without --trusted-base) takes its own word
    found = only(validate(load_repo(repo), BASE))
    assert (found.path, found.line) == (SENTIMENT, 9)
    assert "outside tenant 'nlp''s artifact roots (s3://ml-artifacts/nlp/)" in found.message


def test_a_root_template_that_nests_roots_is_refused(repo: Path) -> None:
    _roots(repo, "s3://ml-artifacts/t-{tenant}/")
    found = only(problems(repo))
    assert found.path == "mlcp.yaml" and "whole path segment" in found.message
