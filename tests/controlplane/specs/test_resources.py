"""Quantities and resource names: the API server's grammar, nothing looser."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from controlplane.specs.resources import QUANTITY_PATTERN, ResourceList, parse

resources = TypeAdapter(ResourceList)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("1.5", Decimal("1.5")),
        ("+1", Decimal(1)),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("4Gi", Decimal(4 * 1024**3)),
        ("1Ki", Decimal(1024)),
        ("100M", Decimal(100_000_000)),
        ("1k", Decimal(1000)),
        ("1E", Decimal(10**18)),
        ("1e3", Decimal(1000)),
        ("1e-3", Decimal("0.001")),
        ("250u", Decimal("0.00025")),
        ("3n", Decimal("3e-9")),
        (3, Decimal(3)),
        (0.25, Decimal("0.25")),
        (1e20, Decimal(10**20)),
        ("0", Decimal(0)),
    ],
)
def test_valid_quantities_parse_to_their_value(text: str | float, value: Decimal) -> None:
    assert parse(text) == value


@pytest.mark.parametrize(
    "text", ["lots", "", "m", "2K", "1ki", "1_000", " 1", "1 ", "0x10", "NaN", "Infinity", "1e99999", "1m5", "Gi"]
)
def test_what_the_api_server_refuses_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse(text)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, None, [1], {"a": 1}])
def test_non_quantity_values_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse(value)


def test_negative_quantities_are_refused_with_their_own_message() -> None:
    with pytest.raises(ValueError, match="is negative"):
        parse("-1")


@pytest.mark.parametrize("text", ["500m", "4Gi", "1e3", "+1", ".5", "lots", "2K", "1_000", "-1", "NaN"])
def test_json_schema_pattern_agrees_with_the_parser(text: str) -> None:
    try:
        parse(text)
        accepted = True
    except ValueError:
        accepted = False
    assert bool(re.match(QUANTITY_PATTERN, text)) is accepted


def test_resource_lists_keep_quantities_as_written_strings() -> None:
    assert resources.validate_python({"cpu": 2, "memory": "4Gi", "nvidia.com/gpu": "1"}) == {
        "cpu": "2",
        "memory": "4Gi",
        "nvidia.com/gpu": "1",
    }


@pytest.mark.parametrize("name", ["cpu", "requests.nvidia.com/gpu", "count/workflows.argoproj.io", "hugepages-2Mi"])
def test_kubernetes_resource_names_are_accepted(name: str) -> None:
    assert resources.validate_python({name: "1"}) == {name: "1"}


@pytest.mark.parametrize("name", ["Bad Name", "-cpu", "Example.COM/gpu", "a/b/c", "x" * 317, "", "cpu\n"])
def test_invalid_resource_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="is not a Kubernetes resource name"):
        resources.validate_python({name: "1"})
