"""Unit tests for whose run a promotion's gates may judge (mlflow_provenance): pure verdicts on values read."""

from __future__ import annotations

import pytest

from controlplane.inventory import InventoryRecord, Made, TakenOver
from controlplane.plans import ObjectRef
from reconciler.backends.mlflow_provenance import (
    Kind,
    Reference,
    foreign_run,
    other_files,
    reference,
    tenants_experiments,
)


def _experiment(name: str) -> ObjectRef:
    return ObjectRef("mlflow", "mlflow/v1", "Experiment", None, name)


def test_a_tenants_experiments_are_the_ids_mlcp_recorded_for_it() -> None:
    records = {
        _experiment("vision/made"): InventoryRecord(
            "Experiment/vision/a", "vision", "a.yaml", made=Made("1", "s3://a")
        ),
        _experiment("vision/taken"): InventoryRecord(
            "Experiment/vision/b", "vision", "b.yaml", taken=TakenOver("2", "s3://b")
        ),
        _experiment("vision/older"): InventoryRecord("Experiment/vision/c", "vision", "c.yaml"),  # no id recorded
        _experiment("nlp/made"): InventoryRecord("Experiment/nlp/d", "nlp", "d.yaml", made=Made("3", "s3://d")),
        _experiment("broken"): InventoryRecord(None, None, None, error="unreadable", made=Made("4", "s3://e")),
        ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "m@p"): InventoryRecord(
            "ModelPromotion/vision/p", "vision", "p.yaml", made=Made("5", "s3://f")
        ),
    }
    assert tenants_experiments(records) == {"vision": frozenset({"1", "2"}), "nlp": frozenset({"3"})}


def test_a_run_in_one_of_the_tenants_experiments_is_evidence() -> None:
    assert foreign_run("m", "5", "vision", "r1", "1", frozenset({"1", "2"})) is None


@pytest.mark.parametrize(
    ("tenant", "experiment", "ours", "said"),
    [
        ("vision", "3", frozenset({"1"}), "it is in experiment 3, which mlcp does not record as tenant 'vision''s"),
        ("vision", "3", frozenset(), "mlcp records no experiment as tenant 'vision''s yet"),
        ("vision", None, frozenset({"1"}), "MLflow did not say which experiment that run is in"),
        (None, "1", frozenset({"1"}), "the promotion names no tenant whose run it must be"),
    ],
)
def test_a_run_elsewhere_or_of_unknown_place_is_refused(
    tenant: str | None, experiment: str | None, ours: frozenset[str], said: str
) -> None:
    why = foreign_run("m", "5", tenant, "r9", experiment, ours) or ""
    assert why.startswith("the gates of version 5 of 'm' judge the metrics of its run r9, but "), why
    assert said in why
    assert "metrics were not read" in why
    if tenant:
        assert "To fix: register the version from a run in one of the tenant's experiments" in why


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("s3://bucket/vision/5/model", None),
        ("mlflow-artifacts:/7/r1/artifacts/model", None),
        ("runs:/r1/model", Reference(Kind.RUN, "r1")),
        ("runs:/r1", Reference(Kind.RUN, "r1")),
        ("models:/m-0a1b", Reference(Kind.LOGGED_MODEL, "m-0a1b")),
        ("models:/vision-detector/3", Reference(Kind.VERSION, "vision-detector", "3")),
        ("models:/vision-detector@staging", Reference(Kind.UNTOLD, "models:/vision-detector@staging")),
        ("models:/vision-detector/Production", Reference(Kind.UNTOLD, "models:/vision-detector/Production")),
        ("runs://other-server/r1/model", Reference(Kind.UNTOLD, "runs://other-server/r1/model")),
        ("runs:", Reference(Kind.UNTOLD, "runs:")),
    ],
)
def test_what_a_source_says_about_the_run_that_logged_its_files(source: str, expected: Reference | None) -> None:
    assert reference(source) == expected


def test_files_the_judged_run_logged_pass() -> None:
    assert other_files("m", "5", "r1", Reference(Kind.RUN, "r1"), "r1") is None
    assert other_files("m", "5", "r1", Reference(Kind.LOGGED_MODEL, "m-1"), "r1") is None
    assert other_files("m", "5", "r1", Reference(Kind.VERSION, "other", "2"), "r1") is None


@pytest.mark.parametrize(
    ("ref", "logged_by", "said"),
    [
        (Reference(Kind.RUN, "r2"), "r2", "its source names run r2, whose files run r2 logged"),
        (Reference(Kind.LOGGED_MODEL, "m-1"), "r2", "its source is LoggedModel m-1, whose files run r2 logged"),
        (Reference(Kind.LOGGED_MODEL, "m-1"), None, "its source is LoggedModel m-1, whose files no run logged"),
        (Reference(Kind.VERSION, "b", "2"), "r2", "its source is a copy of version 2 of 'b', whose files run r2"),
        (Reference(Kind.UNTOLD, "models:/b@x"), "r1", "its source 'models:/b@x' does not say which run logged"),
    ],
)
def test_files_another_run_logged_are_refused(ref: Reference, logged_by: str | None, said: str) -> None:
    why = other_files("m", "5", "r1", ref, logged_by) or ""
    assert why.startswith("the gates of version 5 of 'm' judge the metrics of its run r1, but "), why
    assert said in why
    assert "the gates would vouch for files they never measured" in why
    assert "with `run_id` the run that logged its files" in why
