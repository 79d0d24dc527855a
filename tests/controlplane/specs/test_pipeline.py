"""Pipeline: steps, parameters and schedules as declared; graph checks live in validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render
from controlplane.specs import Pipeline
from tests.controlplane.helpers import assert_problem, edit, line_of, problems

TRAIN = "tenants/vision/pipelines/train-detector.yaml"


def test_template_pipeline_reads_steps_dependencies_and_schedule(template: Any) -> None:
    pipeline = Pipeline.model_validate(template(TRAIN))
    assert [s.name for s in pipeline.spec.steps] == ["fetch-data", "train", "evaluate"]
    assert pipeline.spec.steps[1].depends_on == ["fetch-data"]
    assert pipeline.spec.steps[1].resources.requests["nvidia.com/gpu"] == "1"
    assert pipeline.spec.schedule is not None
    assert (pipeline.spec.schedule.cron, pipeline.spec.schedule.timezone) == ("0 2 * * *", "Europe/Berlin")


def test_schedule_defaults(template: Any) -> None:
    data = template(TRAIN)
    data["spec"]["schedule"] = {"cron": "@daily"}
    schedule = Pipeline.model_validate(data).spec.schedule
    assert schedule is not None
    assert (schedule.timezone, schedule.concurrency_policy, schedule.suspend) == ("UTC", "Forbid", False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": []}, "at least 1 item"),
        ({"steps": [{"name": "a"}]}, "image"),
        ({"steps": [{"name": "a", "image": "x", "dependsOn": ["B"]}]}, "DNS-1123"),
        ({"schedule": {"cron": ""}}, "at least 1 character"),
        ({"schedule": {"cron": "@daily", "concurrencyPolicy": "Queue"}}, "'Allow', 'Forbid' or 'Replace'"),
        ({"ttlSecondsAfterFinished": -1}, "greater than or equal to 0"),
        # Argo's CRD refuses these at apply, after the tenant's other objects were written
        ({"volumes": [{"name": "v", "emptyDir": {"sizeLimit": "lots"}}]}, "'lots' is not a Kubernetes quantity"),
        ({"volumes": [{"name": "v", "perRun": {"size": "20 GB"}}]}, "'20 GB' is not a Kubernetes quantity"),
        ({"volumes": [{"name": "v", "perRun": {"size": "1Gi", "storageClass": "Fast"}}]}, "DNS-1123 subdomain"),
        ({"serviceAccount": "trainer"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_pipelines_are_refused(template: Any, change: dict[str, Any], message: str) -> None:
    data = template(TRAIN)
    data["spec"].update(change)
    with pytest.raises(ValidationError, match=message):
        Pipeline.model_validate(data)


@pytest.mark.parametrize(
    ("where", "change", "message"),
    [
        ("spec", {"serviceAccountName": "default"}, "Extra inputs"),
        ("spec", {"namespace": "kube-system"}, "Extra inputs"),
        ("spec", {"hostNetwork": True}, "Extra inputs"),
        ("spec", {"podSpecPatch": '{"hostPID": true}'}, "Extra inputs"),
        ("spec", {"runAsUser": 0}, "greater than or equal to 1"),
        ("spec", {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, "Extra inputs"),
        ("spec", {"volumes": [{"name": "v", "emptyDir": {}, "claim": "c"}]}, "exactly one of"),
        ("step", {"securityContext": {"privileged": True}}, "Extra inputs"),
        ("step", {"serviceAccountName": "mlcp-deployer"}, "Extra inputs"),
        ("step", {"namespace": "other-team"}, "Extra inputs"),
        ("step", {"env": {"A": {"valueFrom": {"secretKeyRef": {"name": "x", "key": "y"}}}}}, "string"),
        (
            "step",
            {"envFrom": [{"name": "A", "secret": {"name": "s", "key": "k", "namespace": "other"}}]},
            "Extra inputs",
        ),
        ("step", {"envFrom": [{"name": "A"}]}, "exactly one of"),
        ("step", {"withItems": ["a"], "withParam": "{{tasks.x.outputs.result}}"}, "at most one of"),
    ],
)
def test_a_pipeline_cannot_leave_the_tenants_account_namespace_or_pod_defaults(
    template: Any, where: str, change: dict[str, Any], message: str
) -> None:
    # the attacker's fields: another account, another namespace, the host, privileges, a raw pod patch
    data = template(TRAIN)
    (data["spec"] if where == "spec" else data["spec"]["steps"][0]).update(change)
    with pytest.raises(ValidationError, match=message):
        Pipeline.model_validate(data)


def test_several_crons_are_read_as_a_list(template: Any) -> None:
    data = template(TRAIN)
    data["spec"]["schedule"] = {"cron": ["0 6 * * 1", "@every 2h"]}
    schedule = Pipeline.model_validate(data).spec.schedule
    assert schedule is not None and schedule.crons == ["0 6 * * 1", "@every 2h"]


@pytest.mark.parametrize(
    ("where", "change", "message"),
    [
        ("spec", {"parallelism": 2**63}, "less than or equal to 9223372036854775807"),  # Argo: int64
        ("spec", {"activeDeadlineSeconds": 10**23}, "less than or equal to 9223372036854775807"),
        ("spec", {"ttlSecondsAfterFinished": 2**31}, "less than or equal to 2147483647"),  # Argo: int32
        ("spec", {"runAsUser": 2**31}, "less than or equal to 2147483647"),  # the API server: an int32 user ID
        ("schedule", {"successfulJobsHistoryLimit": 2**31}, "less than or equal to 2147483647"),
        ("schedule", {"startingDeadlineSeconds": 2**63}, "less than or equal to 9223372036854775807"),
        ("step", {"retry": {"limit": 2**31}}, "less than or equal to 2147483647"),  # IntOrString: int32
        ("step", {"retry": {"limit": 1, "backoff": {"duration": "1s", "factor": 2**31}}}, "2147483647"),
        ("step", {"withItems": [2**63]}, "does not fit in 64 bits"),
        ("step", {"withItems": [-(2**63) - 1]}, "does not fit in 64 bits"),
        ("step", {"withItems": [float("nan")]}, "nan is not a number JSON can carry"),
        ("step", {"withItems": ["a", float("inf")]}, "inf is not a number JSON can carry"),
    ],
)
def test_numbers_beyond_what_argo_and_the_api_server_keep_are_refused(
    template: Any, where: str, change: dict[str, Any], message: str
) -> None:
    data = template(TRAIN)
    {"spec": data["spec"], "schedule": data["spec"]["schedule"], "step": data["spec"]["steps"][0]}[where].update(change)
    with pytest.raises(ValidationError, match=message):
        Pipeline.model_validate(data)


def test_the_largest_numbers_allowed_are_kept_as_written(template: Any) -> None:
    data = template(TRAIN)
    data["spec"].update(parallelism=2**63 - 1, runAsUser=2**31 - 1)
    data["spec"]["steps"][0]["withItems"] = [2**63 - 1, -(2**63), 1e308, 3]
    pipeline = Pipeline.model_validate(data)
    assert (pipeline.spec.parallelism, pipeline.spec.run_as_user) == (2**63 - 1, 2**31 - 1)
    assert pipeline.spec.steps[0].with_items == [2**63 - 1, -(2**63), 1e308, 3]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "key", "value"),
    [
        # the default workflow-controller ignores a CronWorkflow labelled for another instance (no run ever starts),
        # and one of that instance runs it; its runs carry the label on
        ("labels", "workflows.argoproj.io/controller-instanceid", "shadow"),
        # passed on to every scheduled run: the Argo UI and API show alice as the one who submitted them
        ("labels", "workflows.argoproj.io/creator", "alice"),
        ("labels", "workflows.argoproj.io/creator-email", "alice.at.example.com"),
        ("annotations", "workflows.argoproj.io/pod-name-format", "v1"),
        ("annotations", "Workflows.Argoproj.io/pod-name-format", "v1"),  # annotation keys are matched in any case
        ("annotations", "cronworkflows.argoproj.io/last-used-schedule", "CRON_TZ=UTC 0 2 * * *"),
    ],
)
def test_keys_argo_reads_are_refused_at_their_line(repo: Path, field: str, key: str, value: str) -> None:
    """Bob labels the nightly pipeline for another workflow-controller, or as submitted by Alice: copied onto the
    WorkflowTemplate and the CronWorkflow (and from it onto every run), Argo obeys them outside any field mlcp
    checks."""
    path = edit(repo, TRAIN, "  name: train-detector\n", f"  name: train-detector\n  {field}:\n    {key}: {value}\n")
    found = assert_problem(repo, TRAIN, line_of(path, key), f"{field[:-1]} key {key!r} is ")
    assert "Argo" in found.message and "a spec sets none" in found.message


def test_an_sso_rule_on_the_tenants_service_accounts_is_refused(repo: Path) -> None:
    """The Tenant's annotations reach its ServiceAccounts, where Argo's server reads `rbac-rule` to map SSO users
    onto the account."""
    tenant = "tenants/vision/tenant.yaml"
    path = edit(
        repo,
        tenant,
        "  name: vision\n",
        '  name: vision\n  annotations:\n    workflows.argoproj.io/rbac-rule: "true"\n',
    )
    assert_problem(repo, tenant, line_of(path, "rbac-rule"), "annotation key 'workflows.argoproj.io/rbac-rule' is ")


def test_other_labels_and_annotations_still_reach_the_workflow_template(repo: Path) -> None:
    edit(repo, TRAIN, "  name: train-detector\n", "  name: train-detector\n  labels: {team: vision}\n")
    assert problems(repo) == []
    objects = {(o.ref.kind, o.ref.name): o for o in render(RenderContext(load_repo(repo)))}
    assert objects[("CronWorkflow", "train-detector")].manifest["metadata"]["labels"]["team"] == "vision"


def test_every_refused_key_is_reported_at_its_line(repo: Path) -> None:
    """Each key at once, not the first of each map: a reviewer fixes them in one round."""
    keys = ("workflows.argoproj.io/controller-instanceid", "workflows.argoproj.io/creator", "mlcp.dev/spec")
    written = "  labels:\n" + "".join(f"    {key}: x\n" for key in keys)
    path = edit(repo, TRAIN, "  name: train-detector\n", "  name: train-detector\n" + written)
    found = problems(repo)
    assert sorted(d.line for d in found) == sorted(line_of(path, key) for key in keys), found
