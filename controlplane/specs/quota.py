"""Quota: how much of the cluster a tenant may hold, and defaults for pods that ask for nothing.

LimitRange defaults matter because a ResourceQuota on `requests.cpu` rejects any
pod without requests — Argo's init and wait containers among them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controlplane.specs.base import Spec, SpecModel, register
from controlplane.specs.resources import ResourceList


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
