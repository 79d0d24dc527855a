"""Turning client-library models into plain manifests, the form apply sends and diff compares.

Empty maps and lists are dropped: the API server omits them on read, so
keeping them would show as a permanent difference.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _k8s_client() -> Any:
    from kubernetes.client import ApiClient  # noqa: PLC0415 - heavy import, deferred to first render

    return ApiClient()


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


def k8s(model: Any) -> dict[str, Any]:
    """A `kubernetes.client` model as a manifest dict.

    The client's models are pydantic models; their own serializer is ~40x faster than the client's
    generic `sanitize_for_serialization`, which matters when rendering thousands of objects.
    """
    if hasattr(model, "model_dump"):
        dumped = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    else:  # pragma: no cover - older, non-pydantic client models
        dumped = _k8s_client().sanitize_for_serialization(model)
    result: dict[str, Any] = prune_empty(dumped)
    return result


def argo(model: Any) -> dict[str, Any]:
    """An `argo_workflows` model as a manifest dict."""
    result: dict[str, Any] = prune_empty(_argo_client().sanitize_for_serialization(model))
    return result
