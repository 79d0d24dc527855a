"""What every spec shares: names, labels, the kind registry and the JSON Schema of a kind."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import pytest
from pydantic import BaseModel, BeforeValidator, ValidationError
from pydantic.fields import FieldInfo

from controlplane.labels import ADOPTED_ANNOTATION
from controlplane.specs import API_VERSION, KINDS, Quota, Spec, pipeline_steps, schema_of
from controlplane.specs.base import name_limit, register
from controlplane.specs.kube_syntax import INT64_MAX, INT64_MIN
from controlplane.specs.metadata import ANNOTATIONS_MAX_BYTES, Metadata
from controlplane.specs.model import SpecModel
from controlplane.specs.model_promotion import ModelPromotionSpec
from controlplane.specs.repo_config import RepoConfig
from tests.controlplane.helpers import assert_problem, edit, line_of

TENANT = "tenants/vision/tenant.yaml"


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


def test_a_label_key_with_an_empty_prefix_is_refused() -> None:
    with pytest.raises(ValidationError, match="invalid prefix"):
        Quota.model_validate(quota(labels={"/team": "a"}))


@pytest.mark.parametrize(
    "key", ["example.com/Owner", "Example.COM/owner", "note", "a" * 63, "kubernetes.io/description", "x.mlcp.dev/y"]
)
def test_annotation_keys_the_api_server_accepts_are_accepted(key: str) -> None:
    assert Quota.model_validate(quota(annotations={key: "free-form text\nover lines {{x}}"})).metadata.annotations


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("not a key!", "annotation key 'not a key!' is invalid"),
        ("a" * 64, "is invalid"),
        ("-note", "is invalid"),
        ("note\n", "is invalid"),
        ("/note", "invalid prefix"),
        ("exa mple.com/note", "invalid prefix"),
        ("a" * 254 + "/note", "invalid prefix"),
        ("mlcp.dev/adopted-namespace", "is mlcp's own"),
        ("MLCP.dev/source", "is mlcp's own"),
    ],
)
def test_annotation_keys_are_checked_like_the_api_server_does(key: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)) as caught:
        Quota.model_validate(quota(annotations={"fine": "x", key: "y"}))
    assert caught.value.errors()[0]["loc"] == ("metadata", "annotations", key)


def test_annotations_fit_the_api_servers_size_limit_with_room_for_mlcps_own() -> None:
    key = "note"
    fits = {key: "x" * (ANNOTATIONS_MAX_BYTES - len(key))}
    assert Quota.model_validate(quota(annotations=fits)).metadata.annotations == fits
    with pytest.raises(ValidationError, match=f"annotations hold {ANNOTATIONS_MAX_BYTES + 1} bytes"):
        Quota.model_validate(quota(annotations={key: fits[key] + "x"}))
    with pytest.raises(ValidationError, match="bytes"):  # bytes of UTF-8, as the API server counts
        Quota.model_validate(quota(annotations={key: "é" * (ANNOTATIONS_MAX_BYTES // 2)}))


@pytest.mark.parametrize("where", ["labels", "annotations"])
def test_mlcps_own_labels_and_annotations_are_not_set_by_a_spec(where: str) -> None:
    with pytest.raises(ValidationError, match="mlcp's own"):
        Quota.model_validate(quota(**{where: {"mlcp.dev/tenant": "other"}}))


def test_an_annotation_problem_is_reported_at_its_key(repo: Path) -> None:
    path = edit(repo, TENANT, "  name: vision\n", '  name: vision\n  annotations:\n    "not a key!": x\n')
    assert_problem(repo, TENANT, line_of(path, "not a key!"), "annotation key 'not a key!' is invalid")


def test_a_tenant_cannot_set_the_adoption_annotation_mlcp_reads_back(repo: Path) -> None:
    path = edit(repo, TENANT, "  name: vision\n", f'  name: vision\n  annotations:\n    {ADOPTED_ANNOTATION}: "true"\n')
    assert_problem(repo, TENANT, line_of(path, ADOPTED_ANNOTATION), "is mlcp's own")


def test_a_namespace_label_of_mlcps_own_is_refused_at_its_line(repo: Path) -> None:
    path = edit(repo, TENANT, "    cost-center: cv-001\n", "    cost-center: cv-001\n    mlcp.dev/tenant: nlp\n")
    assert_problem(repo, TENANT, line_of(path, "mlcp.dev/tenant"), "label key 'mlcp.dev/tenant' is mlcp's own")


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


def _unbounded_ints(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[str]:
    """`Model.field` for each int a model accepts without bounds within int64 (nested models, lists, unions)."""
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        yield from _unbounded(f"{model.__name__}.{name}", field.annotation, list(field.metadata), seen)


def _unbounded(where: str, annotation: Any, metadata: list[Any], seen: set[type[BaseModel]]) -> Iterator[str]:
    if typing.get_origin(annotation) is Annotated:
        base, *extra = typing.get_args(annotation)
        inner = [m for item in extra for m in (item.metadata if isinstance(item, FieldInfo) else [item])]
        if any(isinstance(m, BeforeValidator) and m.func is pipeline_steps._json_number for m in inner):
            return  # withItems: its numbers are checked before the union (a bounded int would become a float)
        yield from _unbounded(where, base, inner, seen)
    elif annotation is int:
        low = next((m.ge for m in metadata if isinstance(m, annotated_types.Ge)), None)
        high = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
        if low is None or high is None or low < INT64_MIN or high > INT64_MAX:
            yield where
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _unbounded_ints(annotation, seen)
    else:  # a field's constraints reach the members of its union (`int | None`), not a list's items
        union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
        for arg in typing.get_args(annotation):
            yield from _unbounded(where, arg, metadata if union else [], seen)


def test_every_integer_a_spec_holds_is_bounded_to_what_its_target_keeps() -> None:
    seen: set[type[BaseModel]] = set()
    found = [f for cls in (*KINDS.values(), RepoConfig) for f in _unbounded_ints(cls, seen)]
    assert found == [], "bound these (int32 or int64, as the target keeps them): orjson cannot send beyond 64 bits"


def test_no_spec_takes_nan_or_infinity() -> None:
    assert SpecModel.model_config.get("allow_inf_nan") is False
    with pytest.raises(ValidationError, match="finite number"):
        ModelPromotionSpec.model_validate(
            {
                "model": "m",
                "alias": "a",
                "version": 1,
                "gates": [{"metric": "auc", "comparison": ">=", "threshold": float("nan")}],
            }
        )
