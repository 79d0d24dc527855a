"""Kubernetes resource names and quantities, checked the way the API server checks them.

Quantities are parsed with the API server's grammar, so `cpu: lots` is refused in
the config repo instead of by the API server after merge.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

_QUALIFIED = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:[eE]([-+]?[0-9]{1,4})|([numkMGTPE]|[KMGTPE]i))?")
"""apimachinery's quantity grammar: signed number, then an exponent, a decimal SI or a binary SI suffix."""

_MULTIPLIERS = {
    **{suffix: Decimal(1000) ** power for suffix, power in zip("num", (-3, -2, -1), strict=True)},
    **{suffix: Decimal(1000) ** power for suffix, power in zip("kMGTPE", range(1, 7), strict=True)},
    **{f"{suffix}i": Decimal(1024) ** power for suffix, power in zip("KMGTPE", range(1, 7), strict=True)},
}


def parse(value: object) -> Decimal:
    """The numeric value of a Kubernetes quantity; ValueError with a hint otherwise.

    Parsed with the API server's grammar rather than the Python client's
    `parse_quantity`, which accepts what the server refuses (`NaN`, `Infinity`,
    `1_000`, `2K`) and costs a 0.3 s import of the whole client.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (examples: 500m, 2, 1.5, 4Gi, 100M)")
    text = value if isinstance(value, str) else str(value).replace("e+", "e")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (examples: 500m, 2, 1.5, 4Gi, 100M)")
    number, exponent, suffix = match.groups()
    parsed = Decimal(number).scaleb(int(exponent)) if exponent else Decimal(number) * _MULTIPLIERS.get(suffix, 1)
    if parsed < 0:
        raise ValueError(f"{value!r} is negative; quantities must be zero or more")
    return parsed


def _quantity(value: object) -> str:
    parse(value)
    return str(value)


def _resource_name(value: object) -> str:
    if not isinstance(value, str) or len(value) > 316 or not _QUALIFIED.fullmatch(value):
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
