"""Kubernetes resource names and quantities, checked the way the API server checks them.

Quantities are parsed with the official client's `parse_quantity`, so `cpu: lots`
is refused in the config repo instead of by the API server after merge.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

_QUALIFIED = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


def parse(value: object) -> Decimal:
    """The numeric value of a Kubernetes quantity; ValueError with a hint otherwise."""
    from kubernetes.utils.quantity import parse_quantity  # noqa: PLC0415 - heavy import, only when needed

    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    try:
        parsed = parse_quantity(value)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, ArithmeticError):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (examples: 500m, 2, 1.5, 4Gi, 100M)") from None
    if parsed < 0:
        raise ValueError(f"{value!r} is negative; quantities must be zero or more")
    return Decimal(parsed)


def _quantity(value: object) -> str:
    parse(value)
    return str(value)


def _resource_name(value: object) -> str:
    if not isinstance(value, str) or len(value) > 316 or not _QUALIFIED.match(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes resource name (examples: cpu, memory, requests.nvidia.com/gpu, count/pods)"
        )
    return value


QUANTITY_PATTERN = r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$"
"""The quantity grammar from apimachinery's resource package, for JSON Schema users."""

Quantity = Annotated[
    str,
    BeforeValidator(_quantity),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": QUANTITY_PATTERN},
                {"type": "number", "minimum": 0},
            ],
            "description": "A Kubernetes quantity such as `500m`, `2`, `4Gi`.",
        }
    ),
]
"""A quantity kept as written (normalized to a string) after proving it parses."""

ResourceName = Annotated[
    str,
    BeforeValidator(_resource_name),
    WithJsonSchema({"type": "string", "pattern": _QUALIFIED.pattern, "maxLength": 316}),
]
"""A resource name: `cpu`, `memory`, `requests.nvidia.com/gpu`, `count/pods`, …"""

ResourceList = dict[ResourceName, Quantity]
"""Resource name → quantity, as in a container's requests or a quota's `hard`."""
