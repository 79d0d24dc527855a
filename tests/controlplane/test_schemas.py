"""The checked-in JSON Schemas: fresh, and agreeing with the models on valid and invalid specs.

Editors and tools like check-jsonschema only see these files, so they must accept
every template spec and refuse what the models refuse, where JSON Schema can
express it (cross-references it cannot).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from controlplane import schemas
from controlplane.loading.yamldocs import parse
from controlplane.specs import KINDS
from tests.controlplane.helpers import PROJECT, TEMPLATE

SCHEMAS = PROJECT / "schemas"
TEMPLATE_SPECS = sorted(
    p.relative_to(TEMPLATE).as_posix() for d in ("policies", "tenants") for p in (TEMPLATE / d).rglob("*.yaml")
)


def validator(kind: str) -> Draft202012Validator:
    name = "config.json" if kind == "Config" else f"{kind.lower()}.json"
    return Draft202012Validator(json.loads((SCHEMAS / name).read_text()))


def template(rel: str) -> Any:
    (doc,) = parse((TEMPLATE / rel).read_text())
    return doc.data


def test_checked_in_schemas_are_fresh() -> None:
    assert schemas.stale(SCHEMAS) == [], "run `make schemas` and commit schemas/"


def test_there_is_one_schema_per_kind_and_one_for_mlcp_yaml() -> None:
    expected = {f"{kind.lower()}.json" for kind in KINDS} | {"config.json"}
    assert {p.name for p in SCHEMAS.glob("*.json")} == expected


@pytest.mark.parametrize("name", sorted(schemas.generate()))
def test_each_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = json.loads((SCHEMAS / name).read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("rel", [*TEMPLATE_SPECS, "mlcp.yaml"])
def test_every_template_spec_validates_against_its_schema(rel: str) -> None:
    data = template(rel)
    errors = [e.message for e in validator(data["kind"]).iter_errors(data)]
    assert errors == []


def _set(data: Any, path: tuple[str | int, ...], value: Any) -> Any:
    data = copy.deepcopy(data)
    node = data
    for part in path[:-1]:
        node = node[part]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


DELETE = object()
QUOTA = "tenants/vision/quota.yaml"
TRAIN = "tenants/vision/pipelines/train-detector.yaml"
TENANT = "tenants/nlp/tenant.yaml"
DETECTOR = "tenants/vision/experiments/detector.yaml"
PROMOTION = "tenants/vision/promotions/detector-production.yaml"
POLICY = "policies/access.yaml"

INVALID = [
    pytest.param(QUOTA, ("spec", "hard", "requests.cpu"), "lots", id="quota-cpu-lots"),
    pytest.param(QUOTA, ("spec", "hard", "requests.memory"), "128GB", id="quota-bad-suffix"),
    pytest.param(QUOTA, ("spec", "hard", "requests.cpu"), -1, id="quota-negative"),
    pytest.param(QUOTA, ("spec", "hard", "Bad Name!"), "1", id="quota-bad-resource-name"),
    pytest.param(QUOTA, ("spec", "hard"), {}, id="quota-empty-hard"),
    pytest.param(QUOTA, ("spec", "limitRange", "defaultRequest", "cpu"), "x", id="limitrange-quantity"),
    pytest.param(QUOTA, ("apiVersion",), "mlcp.dev/v1", id="unknown-api-version"),
    pytest.param(QUOTA, ("kind",), "Tenant", id="wrong-kind"),
    pytest.param(QUOTA, ("metadata", "name"), "Compute_Quota", id="name-not-dns-label"),
    pytest.param(QUOTA, ("metadata", "nmae"), "x", id="metadata-typo"),
    pytest.param(QUOTA, ("metadata",), DELETE, id="metadata-missing"),
    pytest.param(TENANT, ("spec", "owners"), [], id="tenant-no-owners"),
    pytest.param(TENANT, ("spec", "namespace"), "NLP", id="tenant-namespace-uppercase"),
    pytest.param(TENANT, ("spec", "members", 0, "role"), "owner", id="tenant-member-role"),
    pytest.param(TENANT, ("spec", "displayNam"), "x", id="tenant-unknown-field"),
    pytest.param(TRAIN, ("spec", "steps"), [], id="pipeline-no-steps"),
    pytest.param(TRAIN, ("spec", "steps", 0, "image"), DELETE, id="pipeline-step-no-image"),
    pytest.param(TRAIN, ("spec", "steps", 0, "name"), "Fetch Data", id="pipeline-step-name"),
    pytest.param(TRAIN, ("spec", "steps", 1, "resources", "limits", "memory"), "lots", id="pipeline-quantity"),
    pytest.param(TRAIN, ("spec", "schedule", "concurrencyPolicy"), "Sometimes", id="pipeline-concurrency"),
    pytest.param(TRAIN, ("spec", "schedule", "cron"), "", id="pipeline-empty-cron"),
    pytest.param(DETECTOR, ("spec", "tuning", "objective", "type"), "maximise", id="experiment-objective-type"),
    pytest.param(DETECTOR, ("spec", "tuning", "maxTrials"), 0, id="experiment-max-trials"),
    pytest.param(DETECTOR, ("spec", "tuning", "algorithm", "name"), "genetic", id="experiment-algorithm"),
    pytest.param(PROMOTION, ("spec", "version"), 0, id="promotion-version-zero"),
    pytest.param(PROMOTION, ("spec", "gates", 0, "comparison"), "=>", id="promotion-comparison"),
    pytest.param(PROMOTION, ("spec", "requiredApprovals"), -1, id="promotion-negative-approvals"),
    pytest.param(POLICY, ("spec", "roles"), [], id="policy-no-roles"),
    pytest.param(POLICY, ("spec", "roles", 0, "rules", 0, "actions"), ["deploy"], id="policy-unknown-action"),
    pytest.param(POLICY, ("spec", "roles", 0, "rules", 0, "kinds"), ["Sandbox"], id="policy-unknown-kind"),
    pytest.param(POLICY, ("spec", "requireSignedCommits"), "yes please", id="policy-bool"),
]


@pytest.mark.parametrize(("rel", "path", "value"), INVALID)
def test_schemas_reject_what_the_models_reject(rel: str, path: tuple[str | int, ...], value: Any) -> None:
    data = _set(template(rel), path, value)
    kind = template(rel)["kind"]
    assert list(validator(kind).iter_errors(data)), f"schema accepted {path} = {value!r}"
    with pytest.raises(ValueError, match="validation error"):
        KINDS[kind].model_validate(data)


def test_repo_config_schema_rejects_unknown_settings() -> None:
    data = template("mlcp.yaml")
    assert not list(validator("Config").iter_errors(data))
    data["prune"]["enabeld"] = True
    assert list(validator("Config").iter_errors(data))
