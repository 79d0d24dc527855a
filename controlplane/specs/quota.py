"""Quota: how much of the cluster a tenant may hold, and defaults for pods that ask for nothing.

LimitRange defaults matter because a ResourceQuota on `requests.cpu` rejects any
pod without requests — Argo's init and wait containers among them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, cast

from pydantic import Field

from controlplane.specs import resources
from controlplane.specs.base import Finding, Spec, SpecModel, TenantSpecs, register
from controlplane.specs.resources import ResourceList

Asked = Mapping[str, tuple[tuple[str | int, ...], str]]
"""A container's resources, each with where the spec asks for it: resource name → (key path, quantity)."""


class LimitRangeDefaults(SpecModel):
    """Per-container defaults and bounds, rendered as a LimitRange."""

    default_request: ResourceList = Field(
        default_factory=dict, description="Requests given to containers that set none."
    )
    default: ResourceList = Field(default_factory=dict, description="Limits given to containers that set none.")
    max: ResourceList = Field(default_factory=dict, description="Largest limit a container may set.")
    min: ResourceList = Field(default_factory=dict, description="Smallest request a container may set.")


class QuotaSpec(SpecModel):
    hard: ResourceList = Field(
        min_length=1,
        description=(
            "Hard limits, any Kubernetes resource name: `requests.cpu`, `limits.memory`, "
            "`requests.nvidia.com/gpu`, `count/pods`, …"
        ),
    )
    limit_range: LimitRangeDefaults | None = Field(
        default=None, description="Container defaults so pods without requests still start."
    )


@register
class Quota(Spec):
    """Resource limits of a tenant: a ResourceQuota and a LimitRange."""

    kind: Literal["Quota"] = "Quota"
    workload = False
    spec: QuotaSpec
    folder = "tenants/<tenant>/quota.yaml"


_STANDARD = ("cpu", "memory", "ephemeral-storage")
"""Resources a quota may also name bare (`cpu` counts requests)."""


def quota_keys(resource: str) -> tuple[str, ...]:
    """The quota keys a container's `resource` counts against, its request and limit being equal."""
    keys = (f"requests.{resource}", f"limits.{resource}")
    return (resource, *keys) if resource in _STANDARD else keys


def limit_range_findings(tenant: TenantSpecs, asked: Asked, what: str) -> Iterable[Finding]:
    """A container whose request and limit (equal) fall outside the tenant's LimitRange `min`..`max`: the API server
    refuses its pod, so the object that makes the pod is written and never runs."""
    for quota in tenant.of_kind("Quota"):
        bounds = cast(Quota, quota).spec.limit_range
        if bounds is None:
            continue
        for resource, (path, written) in asked.items():
            if resource in bounds.max and resources.parse(written) > resources.parse(bounds.max[resource]):
                yield Finding(
                    path,
                    f"{what} asks for {resource} {written}, above the most the tenant's quota {quota.name!r} lets a "
                    f"container have (limitRange.max {resource}: {bounds.max[resource]}): its pod would be refused",
                    f"ask for at most {bounds.max[resource]}, or raise limitRange.max in the tenant's quota",
                    "quota",
                )
            if resource in bounds.min and resources.parse(written) < resources.parse(bounds.min[resource]):
                yield Finding(
                    path,
                    f"{what} asks for {resource} {written}, below the least the tenant's quota {quota.name!r} lets a "
                    f"container ask for (limitRange.min {resource}: {bounds.min[resource]}): its pod would be refused",
                    f"ask for at least {bounds.min[resource]}, or lower limitRange.min in the tenant's quota",
                    "quota",
                )


def quota_findings(tenant: TenantSpecs, asked: Asked, what: str, pods: int = 1) -> Iterable[Finding]:
    """`pods` containers asking for `asked` (requests equal to limits) that alone exceed the tenant's quota: the
    object is written and its pods never all start."""
    for quota in tenant.of_kind("Quota"):
        hard = cast(Quota, quota).spec.hard
        for resource, (path, written) in asked.items():
            need = resources.parse(written) * pods
            for key in quota_keys(resource):
                if key in hard and need > resources.parse(hard[key]):
                    times = f" x {pods} replicas" if pods > 1 else ""
                    yield Finding(
                        path,
                        f"{what} needs {resource} {written}{times}, more than the tenant's quota {quota.name!r} "
                        f"allows ({key}: {hard[key]})",
                        f"ask for less, or raise {key} in the tenant's quota",
                        "quota",
                    )
