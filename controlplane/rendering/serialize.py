"""Turning Argo client models into plain manifests, the form apply sends and diff compares.

Empty maps and lists are dropped: the API server omits them on read, so
keeping them would show as a permanent difference.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _argo_client() -> Any:
    from argo_workflows.api_client import ApiClient  # noqa: PLC0415 - heavy import, deferred to first render

    return ApiClient()


def prune_empty(value: Any) -> Any:
    """A copy of `value` without None, {} and [] anywhere inside (one pass; it runs on every rendered object)."""
    kind = type(value)
    if kind is dict:
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            pruned = prune_empty(item) if type(item) is dict or type(item) is list else item
            if pruned == {} or pruned == []:  # noqa: PLR1714 - {} and [] are unhashable
                continue
            out[key] = pruned
        return out
    if kind is list:
        return [prune_empty(item) if type(item) is dict or type(item) is list else item for item in value]
    return value


def argo(model: Any) -> dict[str, Any]:
    """An `argo_workflows` model as a manifest dict."""
    result: dict[str, Any] = prune_empty(_argo_client().sanitize_for_serialization(model))
    return result
