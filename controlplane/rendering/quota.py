"""Quota → ResourceQuota (any resource key, GPUs included) and a LimitRange with container defaults."""

from __future__ import annotations

from typing import cast

from kubernetes import client as k

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering import serialize
from controlplane.rendering.context import RenderContext, desired, metadata
from controlplane.rendering.registry import renders
from controlplane.specs import Quota


@renders("Quota")
def render_quota(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    quota = cast(Quota, loaded.spec)
    ns = ctx.namespace(loaded.tenant)
    name = quota.metadata.name
    manifests = [
        serialize.k8s(
            k.V1ResourceQuota(
                api_version="v1",
                kind="ResourceQuota",
                metadata=k.V1ObjectMeta(**metadata(loaded, ctx, name, ns)),
                spec=k.V1ResourceQuotaSpec(hard=dict(quota.spec.hard)),
            )
        )
    ]
    limits = quota.spec.limit_range
    if limits is not None:
        item = k.V1LimitRangeItem(
            type="Container",
            default=dict(limits.default) or None,
            default_request=dict(limits.default_request) or None,
            max=dict(limits.max) or None,
            min=dict(limits.min) or None,
        )
        manifests.append(
            serialize.k8s(
                k.V1LimitRange(
                    api_version="v1",
                    kind="LimitRange",
                    metadata=k.V1ObjectMeta(**metadata(loaded, ctx, name, ns)),
                    spec=k.V1LimitRangeSpec(limits=[item]),
                )
            )
        )
    return [desired(loaded, manifest) for manifest in manifests]
