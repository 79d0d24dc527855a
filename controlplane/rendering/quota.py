"""Quota → ResourceQuota (any resource key, GPUs included) and a LimitRange with container defaults.

The LimitRange matters under a quota: pods without requests (Argo's init and wait
containers) are refused by a quota on requests unless a default fills them in.
"""

from __future__ import annotations

from typing import Any, cast

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering.catalog import Resource
from controlplane.rendering.context import RenderContext, desired, metadata
from controlplane.rendering.manifests import manifest
from controlplane.rendering.registry import renders
from controlplane.specs import Quota

RESOURCE_QUOTA = Resource(40, "", "v1", "ResourceQuota", "resourcequotas", namespaced=True, bounds_tenant=True)
LIMIT_RANGE = Resource(40, "", "v1", "LimitRange", "limitranges", namespaced=True, bounds_tenant=True)


@renders("Quota", RESOURCE_QUOTA, LIMIT_RANGE)
def render_quota(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    quota = cast(Quota, loaded.spec)
    ns = ctx.namespace(loaded.tenant)
    name = quota.metadata.name
    manifests = [manifest("v1", "ResourceQuota", metadata(loaded, ctx, name, ns), spec={"hard": dict(quota.spec.hard)})]
    limits = quota.spec.limit_range
    if limits is not None:
        item: dict[str, Any] = {"type": "Container"}
        for field, values in (
            ("default", limits.default),
            ("defaultRequest", limits.default_request),
            ("max", limits.max),
            ("min", limits.min),
        ):
            if values:
                item[field] = dict(values)
        spec = {"limits": [item]}
        manifests.append(manifest("v1", "LimitRange", metadata(loaded, ctx, name, ns), spec=spec))
    return [desired(loaded, item) for item in manifests]
