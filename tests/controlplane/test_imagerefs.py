"""Image references: the distribution grammar the container runtime applies (cases from distribution/reference)."""

from __future__ import annotations

import pytest

from controlplane import imagerefs


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "python:3.12-slim",
        "ghcr.io/acme/train:1.4",
        "localhost:5000/team/x:v1",
        "registry.example.com:443/a/b/c@sha256:" + "a" * 64,
        "UPPER.example.com/team/x:v1",  # the registry host may have capitals
        "[::1]:5000/x",
        "a__b/c-d--e.f_g:1.0-rc_1",
    ],
)
def test_valid_references(image: str) -> None:
    assert imagerefs.problem(image) is None


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("Ubuntu", "must be lowercase"),
        ("ghcr.io/Acme/train:1", "must be lowercase"),
        ("repo:tag:tag", "invalid reference format"),
        ("bad image", "invalid reference format"),
        ("", "invalid reference format"),
        ("x:" + "t" * 129, "invalid reference format"),
        ("a" * 256, "not be longer than 255"),
        ("a" * 64, "image ID"),
        ("x@sha256:" + "a" * 63, "digest"),
        ("x@md5:" + "a" * 32, "digest"),
        ("x@sha256:" + "A" * 64, "digest"),
        ("busybox\n", "invalid reference format"),  # `$` under re.match accepts a trailing newline
        ("{{workflow.parameters.image}}", "substituted only in a pipeline's container"),  # pipeline_rules' call
        ("NOT AN IMAGE {{x}}", "substituted only in a pipeline's container"),
        ("a" * 64 + "\n", "invalid reference format"),
    ],
)
def test_invalid_references(image: str, why: str) -> None:
    problem = imagerefs.problem(image)
    assert problem is not None and why in problem
