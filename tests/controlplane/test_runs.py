"""`controlplane/runs.py`: which pipeline a run is of, its parameters checked, the Workflow it submits, and how a
Workflow's status reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controlplane import runs
from controlplane.labels import MANAGED_BY, SPEC_LABEL, TENANT_LABEL
from controlplane.loading.repo import load_repo
from tests.controlplane.helpers import edit, write


def _request(repo: Path, name: str = "train-detector", given: dict[str, str] | None = None) -> runs.RunRequest:
    loaded = load_repo(repo)
    return runs.request_for(loaded, runs.find_pipeline(loaded, name, None), given or {})


def test_a_run_goes_to_the_pipelines_tenant_namespace_with_only_the_given_parameters(repo: Path) -> None:
    request = _request(repo, "embed-corpus")
    assert (request.tenant, request.namespace, request.parameters) == ("nlp", "nlp-team", {})
    assert request.source == "tenants/nlp/pipelines/embed-corpus.yaml"
    assert _request(repo, given={"epochs": "3"}).parameters == {"epochs": "3"}


def test_an_unknown_pipeline_lists_the_known_ones(repo: Path) -> None:
    with pytest.raises(runs.RunError) as info:
        _request(repo, "train-detecter")
    assert "no pipeline 'train-detecter'" in info.value.message
    assert info.value.hint == "pipelines: nlp/embed-corpus, vision/train-detector"


def test_a_pipeline_in_another_tenant_is_not_found_with_tenant(repo: Path) -> None:
    loaded = load_repo(repo)
    with pytest.raises(runs.RunError, match="no pipeline 'embed-corpus' in tenant 'vision'"):
        runs.find_pipeline(loaded, "embed-corpus", "vision")
    assert runs.find_pipeline(loaded, "embed-corpus", "nlp").tenant == "nlp"


def test_a_name_in_two_tenants_needs_tenant(repo: Path) -> None:
    text = (repo / "tenants/nlp/pipelines/embed-corpus.yaml").read_text(encoding="utf-8")
    write(repo, "tenants/vision/pipelines/embed-corpus.yaml", text)
    with pytest.raises(runs.RunError) as info:
        runs.find_pipeline(load_repo(repo), "embed-corpus", None)
    assert info.value.message == "pipeline 'embed-corpus' exists in several tenants: nlp, vision"
    assert info.value.hint == "choose one with --tenant"


def test_a_broken_file_is_mentioned_when_the_pipeline_is_not_found(repo: Path) -> None:
    edit(repo, "tenants/nlp/pipelines/embed-corpus.yaml", "kind: Pipeline", "kind: Pipeline\nkind: Pipeline")
    with pytest.raises(runs.RunError, match="1 file\\(s\\) in the repo did not load"):
        _request(repo, "embed-corpus")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["epochs"], "--param 'epochs' is not NAME=VALUE"),
        (["=3"], "--param '=3' is not NAME=VALUE"),
        (["epochs=3", "epochs=4"], "--param epochs is given twice"),
    ],
)
def test_malformed_param_flags_are_usage_errors(flags: list[str], message: str) -> None:
    with pytest.raises(runs.ParameterError) as info:
        runs.parse_parameters(flags)
    assert info.value.message == message


def test_param_values_may_hold_equals_signs_and_be_empty() -> None:
    assert runs.parse_parameters(["query=a=b", "note="]) == {"query": "a=b", "note": ""}


def test_an_undeclared_parameter_names_the_declared_ones(repo: Path) -> None:
    with pytest.raises(runs.ParameterError) as info:
        _request(repo, given={"learning.rate": "1"})
    assert info.value.message == "pipeline 'train-detector' has no parameter 'learning.rate'"
    assert info.value.hint == "its parameters: learning-rate, epochs"


def test_a_value_outside_the_enum_is_refused(repo: Path) -> None:
    edit(
        repo,
        "tenants/vision/pipelines/train-detector.yaml",
        '      value: "20"',
        '      value: "20"\n      enum: ["10", "20"]',
    )
    with pytest.raises(runs.ParameterError, match="parameter 'epochs' must be one of 10, 20, not '30'"):
        _request(repo, given={"epochs": "30"})
    assert _request(repo, given={"epochs": "10"}).parameters == {"epochs": "10"}


def test_a_parameter_without_a_default_needs_a_value(repo: Path) -> None:
    edit(repo, "tenants/vision/pipelines/train-detector.yaml", '      value: "20"\n', "")
    with pytest.raises(runs.ParameterError) as info:
        _request(repo)
    assert info.value.message == "pipeline 'train-detector' needs a value for epochs (no default)"
    assert info.value.hint == "--param epochs=VALUE"


def test_a_parameter_the_applied_template_lacks_is_not_applied_yet(repo: Path) -> None:
    request = _request(repo, given={"epochs": "3"})
    live = {"spec": {"arguments": {"parameters": [{"name": "learning-rate", "value": "0.001"}]}}}
    with pytest.raises(runs.ParameterError) as info:
        runs.check_live_parameters(request, live)
    assert "has no parameter epochs (tenants/vision/pipelines/train-detector.yaml declares it)" in info.value.message
    assert "mlcp apply" in info.value.hint
    runs.check_live_parameters(_request(repo, given={"learning-rate": "1"}), live)


def test_only_a_template_mlcp_rendered_from_the_pipeline_is_run(repo: Path) -> None:
    request = _request(repo)
    labels = {MANAGED_BY: "mlcp", SPEC_LABEL: "Pipeline.train-detector", TENANT_LABEL: "vision"}
    runs.check_governed(request, {"metadata": {"labels": labels}})
    for wrong in ({}, {**labels, MANAGED_BY: "helm"}, {**labels, SPEC_LABEL: "Pipeline.other"}):
        with pytest.raises(runs.RunError, match="vision/train-detector was not rendered by mlcp from the pipeline"):
            runs.check_governed(request, {"metadata": {"labels": wrong}})


def test_the_workflow_references_the_template_and_carries_none_of_mlcps_labels(repo: Path) -> None:
    body = runs.workflow_manifest(_request(repo, given={"epochs": "3"}))
    assert body == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "train-detector-", "namespace": "vision"},
        "spec": {
            "workflowTemplateRef": {"name": "train-detector"},
            "arguments": {"parameters": [{"name": "epochs", "value": "3"}]},
        },
    }
    assert not {MANAGED_BY, SPEC_LABEL, TENANT_LABEL} & set(body["metadata"].get("labels", {}))
    assert "arguments" not in runs.workflow_manifest(_request(repo))["spec"]


def _node(name: str, kind: str, phase: str, started: str | None, **extra: Any) -> dict[str, Any]:
    return {"displayName": name, "type": kind, "phase": phase, "startedAt": started, **extra}


def test_status_lists_steps_by_start_and_folds_retried_pods_into_attempts() -> None:
    workflow = {
        "metadata": {"name": "train-abc", "namespace": "vision"},
        "status": {
            "phase": "Failed",
            "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:00:09Z",
            "message": "child failed",
            "nodes": {
                "w": _node("train-abc", "DAG", "Failed", "2026-01-01T00:00:00Z", children=["f", "t"]),
                "t": _node("train", "Retry", "Failed", "2026-01-01T00:00:03Z", children=["t0", "t1"]),
                "t0": _node("train(0)", "Pod", "Failed", "2026-01-01T00:00:03Z", message="exit code 3"),
                "t1": _node("train(1)", "Pod", "Failed", "2026-01-01T00:00:05Z", message="exit code 3"),
                "f": _node("fetch-data", "Pod", "Succeeded", "2026-01-01T00:00:01Z", finishedAt="2026-01-01T00:00:02Z"),
                "e": _node("evaluate", "Skipped", "Omitted", None),
            },
        },
    }
    status = runs.status_of(workflow)
    assert (status.name, status.namespace, status.phase, status.message) == (
        "train-abc",
        "vision",
        "Failed",
        "child failed",
    )
    assert status.finished and not status.succeeded
    assert [(s.name, s.phase, s.attempts) for s in status.steps] == [
        ("fetch-data", "Succeeded", 1),
        ("train", "Failed", 2),
        ("evaluate", "Omitted", 1),
    ]
    assert status.steps[0].to_dict() == {
        "name": "fetch-data",
        "phase": "Succeeded",
        "type": "Pod",
        "startedAt": "2026-01-01T00:00:01Z",
        "finishedAt": "2026-01-01T00:00:02Z",
        "message": "",
        "attempts": 1,
    }


def test_a_workflow_the_controller_has_not_seen_is_pending() -> None:
    status = runs.status_of({"metadata": {"name": "x-1", "namespace": "n"}})
    assert (status.phase, status.steps, status.finished) == ("Pending", (), False)
