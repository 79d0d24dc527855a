"""What the API server accepts as a name, a label key or value, or an integer: its own rules, checked at validate.

A value the API server would refuse is refused where it is written, at its line, before any object of the spec is
written: otherwise the apply fails part way (the spec's other objects written), or every pass fails the same way.
The patterns are Kubernetes' own (apimachinery's validation), checked with fullmatch.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

# Whole values are checked with fullmatch: under re.match, `$` also matches before a trailing newline.
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


INT32_MAX = 2**31 - 1
"""The largest int32: the bound of a field the target system keeps as one (Kubernetes `int32`, IntOrString)."""
INT64_MAX = 2**63 - 1
"""The largest int64, the widest integer Kubernetes, Argo and MLflow keep (and the JSON mlcp sends can hold)."""
INT64_MIN = -(2**63)

LABEL_VALUE_MAX = 63
"""The API server's limit on a label value."""


def _dns1123_subdomain(value: str) -> str:
    if len(value) > 253 or not all(_DNS1123_LABEL.fullmatch(part) for part in value.split(".")):
        raise ValueError(
            f"{value!r} is not a DNS-1123 subdomain: use at most 253 lowercase letters, digits, '-' and '.', "
            "each '.'-separated part starting and ending with a letter or digit (e.g. fast-ssd or ssd.example.com)"
        )
    return value


def is_dns1123_label(value: str) -> bool:
    """True for a DNS-1123 label: what a tenant's name (its folder, its namespace, a label value) must be."""
    return len(value) <= 63 and _DNS1123_LABEL.fullmatch(value) is not None


def _dns1123_label(value: str) -> str:
    if not is_dns1123_label(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: use at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit"
        )
    return value


def qualified_name_problem(key: str, what: str, any_case: bool = False) -> str | None:
    """Why `key` is not a qualified name (`[prefix/]name`) as the API server checks a label key, a node selector's
    or a toleration's key (an annotation's lowercased: `any_case`)."""
    prefix, slash, name = (key.lower() if any_case else key).rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not all(_DNS1123_LABEL.fullmatch(p) for p in prefix.split("."))):
        return f"{what} key {key!r} has an invalid prefix: it must be a DNS subdomain such as example.com"
    if len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        return (
            f"{what} key {key!r} is invalid: at most 63 characters of letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit, after an optional DNS-subdomain prefix"
        )
    return None


def label_value_problem(value: str, what: str) -> str | None:
    """Why `value` is not a label value as the API server checks one (a label's, a node selector's, a toleration's)."""
    if len(value) > LABEL_VALUE_MAX or not _LABEL_VALUE.fullmatch(value):
        return (
            f"{what} {value!r} is not a valid label value: at most 63 characters of letters, "
            "digits, '-', '_' and '.', starting and ending with a letter or digit (or empty)"
        )
    return None


DnsLabel = Annotated[
    str,
    AfterValidator(_dns1123_label),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": _DNS1123_LABEL.pattern}),
]
"""A Kubernetes object name that must also be a DNS-1123 label (namespaces, tenants)."""

_DNS1123_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

DnsSubdomain = Annotated[
    str,
    AfterValidator(_dns1123_subdomain),
    WithJsonSchema({"type": "string", "maxLength": 253, "pattern": _DNS1123_SUBDOMAIN_PATTERN}),
]
"""A Kubernetes object name the API server checks as a DNS-1123 subdomain (a StorageClass, most object names)."""
