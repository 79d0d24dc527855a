"""What every spec shares: names, labels, the kind registry and the JSON Schema of a kind."""

from __future__ import annotations

import re
from typing import Any, Literal

import pytest
from pydantic import ValidationError

from controlplane.specs import API_VERSION, KINDS, Quota, Spec, schema_of
from controlplane.specs.base import Metadata, name_limit, register


def quota(**metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Quota",
        "metadata": {"name": "compute", **metadata},
        "spec": {"hard": {"cpu": "1"}},
    }


def test_every_kind_is_registered() -> None:
    assert sorted(KINDS) == [
        "AccessPolicy",
        "Experiment",
        "ModelPromotion",
        "Notebook",
        "Pipeline",
        "Quota",
        "Tenant",
        "TrainingJob",
    ]


def test_registering_a_second_kind_of_the_same_name_is_refused() -> None:
    class OtherQuota(Spec):
        kind: Literal["Quota"] = "Quota"

    with pytest.raises(TypeError, match="registered twice"):
        register(OtherQuota)
    assert KINDS["Quota"] is Quota


def test_a_kind_without_a_literal_default_cannot_register() -> None:
    class Nameless(Spec):
        pass

    with pytest.raises(TypeError, match="must declare"):
        register(Nameless)


@pytest.mark.parametrize("name", ["a", "team-1", "x" * 63, "0abc"])
def test_dns_label_names_are_accepted(name: str) -> None:
    assert Metadata(name=name).name == name


@pytest.mark.parametrize("name", ["", "A", "team_1", "-a", "a-", "x" * 64, "a.b", "nightly\n"])
def test_names_that_are_not_dns_labels_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="DNS-1123 label"):
        Metadata(name=name)


def test_a_name_must_fit_the_spec_label_its_kubernetes_objects_carry() -> None:
    longest = "q" * name_limit("Quota")
    assert len(f"Quota.{longest}") == 63
    assert Quota.model_validate(quota(name=longest)).name == longest
    with pytest.raises(
        ValidationError, match=re.escape("at most 57 fit the label `mlcp.dev/spec: Quota.<name>`")
    ) as caught:
        Quota.model_validate(quota(name=longest + "q"))  # a valid DNS label of 58 characters
    (error,) = caught.value.errors()
    assert error["loc"] == ("metadata", "name") and error["type"] == "string_too_long"


def test_labels_are_checked_like_the_api_server_does() -> None:
    assert Quota.model_validate(quota(labels={"example.com/team": "a_b.c", "tier": ""})).metadata.labels
    with pytest.raises(ValidationError, match="invalid prefix"):
        Quota.model_validate(quota(labels={"Example.com/team": "a"}))
    with pytest.raises(ValidationError, match="label key"):
        Quota.model_validate(quota(labels={"-team": "a"}))
    with pytest.raises(ValidationError, match="not a valid label value"):
        Quota.model_validate(quota(labels={"team": "a b"}))


@pytest.mark.parametrize(
    "labels",
    [{"team\n": "a"}, {"team": "a\n"}, {"example.com\n/team": "a"}],
    ids=["key", "value", "prefix"],
)
def test_a_trailing_newline_is_not_part_of_a_valid_label(labels: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="label"):  # `$` under re.match accepts one
        Quota.model_validate(quota(labels=labels))


def test_unknown_fields_are_errors_not_ignored() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Quota.model_validate({**quota(), "sepc": {}})


def test_fields_are_camel_case_in_yaml_and_snake_case_in_python() -> None:
    data = quota()
    data["spec"]["limitRange"] = {"defaultRequest": {"cpu": "100m"}}
    spec = Quota.model_validate(data)
    assert spec.spec.limit_range is not None
    assert spec.spec.limit_range.default_request == {"cpu": "100m"}
    assert spec.model_dump(by_alias=True, exclude_defaults=True)["spec"]["limitRange"] == {
        "defaultRequest": {"cpu": "100m"}
    }


def test_specs_are_immutable() -> None:
    spec = Quota.model_validate(quota())
    with pytest.raises(ValidationError, match="frozen"):
        spec.metadata.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_schema_of_a_kind_names_its_draft_and_id(kind: str) -> None:
    schema = schema_of(kind)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://mlcp.dev/schemas/v1alpha1/{kind.lower()}.json"
    assert schema["properties"]["kind"]["const"] == kind
    assert set(schema["required"]) >= {"apiVersion", "metadata", "spec"}
