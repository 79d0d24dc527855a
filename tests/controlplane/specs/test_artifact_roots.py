"""Whose files a location names: the normal form, and the ways a location would try to pass as under a root."""

from __future__ import annotations

import pytest

from controlplane.specs.artifact_roots import normal, template_problem, tenant_roots, under

ROOTS = tenant_roots(("s3://ml-artifacts/{tenant}/",), "nlp")


@pytest.mark.parametrize(
    "location",
    [
        "s3://ml-artifacts/nlp",
        "s3://ml-artifacts/nlp/",
        "s3://ml-artifacts/nlp/runs/1/model",
        "S3://ML-Artifacts/nlp/model",  # scheme and bucket in any case
        "s3://ml-artifacts//nlp//model/",  # empty segments
        "s3://ml-artifacts/%6elp/model",  # percent-encoded
    ],
)
def test_a_location_under_the_tenants_root_is_under_it(location: str) -> None:
    assert under(location, ROOTS)


@pytest.mark.parametrize(
    "location",
    [
        "s3://ml-artifacts/vision/model",  # another tenant's
        "s3://ml-artifacts/nlpx/model",  # a longer name is not below the root: s3://b/a is not s3://b/ab
        "s3://ml-artifacts/nlp/../vision/model",  # climbing
        "s3://ml-artifacts/nlp/%2e%2e/vision/model",  # climbing, encoded
        "s3://ml-artifacts/nlp/%252e%252e/vision/model",  # climbing, encoded twice
        "s3://ml-artifacts/nlp/./model",  # '.' has no single meaning to every store
        "s3://ml-artifacts/nlp/model?versionId=1",  # a query
        "s3://ml-artifacts/nlp%00/model",  # a NUL
        "s3://other-bucket/nlp/model",  # another bucket
        "gs://ml-artifacts/nlp/model",  # another scheme
        "s3:ml-artifacts/nlp/model",  # no single meaning
        "ml-artifacts/nlp/model",  # no scheme
        "",
    ],
)
def test_a_location_elsewhere_is_not_under_it(location: str) -> None:
    assert not under(location, ROOTS)


def test_a_root_without_a_path_holds_nothing() -> None:
    """A whole bucket (say an experiment created at the bucket's top) is no tenant's."""
    assert not under("s3://ml-artifacts/vision/model", ["s3://ml-artifacts/", "s3://ml-artifacts"])


def test_the_tracking_servers_store_has_no_host() -> None:
    assert normal("mlflow-artifacts:/nlp/x") == "mlflow-artifacts:///nlp/x/"
    assert under("mlflow-artifacts:/nlp/x", tenant_roots(("mlflow-artifacts:/{tenant}/",), "nlp"))
    assert not under("mlflow-artifacts://host/nlp/x", tenant_roots(("mlflow-artifacts:/{tenant}/",), "nlp"))


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("s3://ml-artifacts/", "exactly once"),
        ("s3://ml-artifacts/{tenant}-{tenant}/", "exactly once"),
        ("s3://ml-artifacts/t-{tenant}/", "whole path segment"),  # one folder per tenant, named as the tenant
        ("s3://ml-artifacts/{tenant}x/", "whole path segment"),
        ("https://store/{tenant}/", "scheme 'https'"),
        ("file:///srv/{tenant}/", "scheme 'file'"),
        ("mlflow-artifacts://host/{tenant}/", "takes no host"),
        ("s3://ml-artifacts/../{tenant}/", "no '.', '..'"),
    ],
)
def test_a_template_that_lets_roots_nest_or_leave_is_refused(template: str, why: str) -> None:
    found = template_problem(template)
    assert found is not None and why in found


def test_a_template_naming_the_tenant_as_a_segment_is_taken() -> None:
    assert template_problem("s3://ml-artifacts/{tenant}/") is None
    assert template_problem("gs://models/teams/{tenant}/artifacts/") is None
    assert template_problem("mlflow-artifacts:/{tenant}/") is None
