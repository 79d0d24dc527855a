"""Quota: how much of the cluster a tenant may hold, and defaults for pods that ask for nothing.

LimitRange defaults matter because a ResourceQuota on `requests.cpu` rejects any
pod without requests — Argo's init and wait containers among them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Literal, cast

from pydantic import Field, model_validator

from controlplane.specs import resources
from controlplane.specs.base import Finding, Spec, TenantSpecs, register
from controlplane.specs.model import SpecModel, error_at
from controlplane.specs.resources import ResourceList

Asked = Mapping[str, tuple[tuple[str | int, ...], str]]
"""A container's resources, each with where the spec asks for it: resource name → (key path, quantity)."""


_FIELD_ATTRS = {"min": "min", "defaultRequest": "default_request", "default": "default", "max": "max"}


class LimitRangeDefaults(SpecModel):
    """Per-container defaults and bounds, rendered as a LimitRange."""

    default_request: ResourceList = Field(
        default_factory=dict, description="Requests given to containers that set none."
    )
    default: ResourceList = Field(default_factory=dict, description="Limits given to containers that set none.")
    max: ResourceList = Field(default_factory=dict, description="Largest limit a container may set.")
    min: ResourceList = Field(default_factory=dict, description="Smallest request a container may set.")

    @model_validator(mode="after")
    def _ordered(self) -> LimitRangeDefaults:
        """min <= defaultRequest <= default <= max for each resource, as the API server validates a LimitRange
        (after filling a missing default from max, and a missing defaultRequest from default, then min): it refuses
        one out of order at apply, after the tenant's other objects were written."""
        default = {**self.max, **self.default}
        default_request = {**self.min, **default, **self.default_request}
        fields = (
            ("min", "min", self.min),
            ("defaultRequest", "default request", default_request),
            ("default", "default limit", default),
            ("max", "max", self.max),
        )
        for i, (low_field, low_name, lows) in enumerate(fields):
            for high_field, high_name, highs in fields[i + 1 :]:
                for resource, low in lows.items():
                    high = highs.get(resource)
                    if high is not None and resources.parse(low) > resources.parse(high):
                        bound = low_field if low_field == "min" else high_field  # the bound, else what it bounds
                        written = bound if resource in getattr(self, _FIELD_ATTRS[bound]) else low_field
                        raise error_at(
                            (written, resource),
                            f"the {low_name} of {resource} ({low}) is above its {high_name} ({high}): the API server "
                            "refuses the LimitRange (min <= defaultRequest <= default <= max; a missing default is "
                            "the max, a missing defaultRequest the default)",
                        )
        return self


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
    return (*request_keys(resource), *limit_keys(resource))


def request_keys(resource: str) -> tuple[str, ...]:
    """The quota keys a container's request of `resource` counts against."""
    return (resource, f"requests.{resource}") if resource in _STANDARD else (f"requests.{resource}",)


def limit_keys(resource: str) -> tuple[str, ...]:
    """The quota keys a container's limit of `resource` counts against."""
    return (f"limits.{resource}",)


def _limit_range(tenant: TenantSpecs) -> tuple[str, LimitRangeDefaults] | None:
    """The tenant's LimitRange (its Quota's `limitRange`) and the Quota's name; None without one."""
    for quota in tenant.of_kind("Quota"):
        bounds = cast(Quota, quota).spec.limit_range
        if bounds is not None:
            return quota.name, bounds
    return None


def _overcommittable(resource: str) -> bool:
    """Whether a container may request less than its limit of `resource` (the API server's IsOvercommitAllowed): a
    native resource (no domain, or kubernetes.io/) but huge pages; an extended one (`nvidia.com/gpu`) may not."""
    domain, slash, name = resource.rpartition("/")
    native = not slash or domain == "kubernetes.io" or domain.endswith(".kubernetes.io")
    return native and not name.startswith("hugepages-")


def container_findings(
    tenant: TenantSpecs, requests: Asked, limits: Asked, what: str, where: tuple[str | int, ...]
) -> Iterable[Finding]:
    """A container with the `requests` and `limits` it writes whose pod the API server refuses, as it completes and
    checks them: a limit written alone is also the request; the tenant's LimitRange fills a missing limit with its
    `default` (else its `max`) and a missing request with its `defaultRequest` (else that default limit, else its
    `min`); then each request is at most its limit, an extended resource (`nvidia.com/gpu`) or huge pages are
    requested exactly as limited, and the LimitRange's `min` and `max` hold. Another container's pod (a Notebook's,
    a TrainJob node's) sets requests equal to limits and is checked by `limit_range_findings`. `where` is the
    container's resources, where a value the LimitRange fills in is reported."""
    found = _limit_range(tenant)
    name, bounds = found if found is not None else ("", LimitRangeDefaults())
    default_limit = {**bounds.max, **bounds.default}
    default_request = {**bounds.min, **default_limit, **bounds.default_request}
    filled = f"the tenant's quota {name!r} gives a container that sets none"
    eff_limits = {r: (path, q, "") for r, (path, q) in limits.items()}
    eff_limits.update({r: (where, q, f"limitRange.default {r}") for r, q in default_limit.items() if r not in limits})
    eff_requests = {r: (path, q, "") for r, (path, q) in {**limits, **requests}.items()}
    eff_requests.update(
        {r: (where, q, f"limitRange.defaultRequest {r}") for r, q in default_request.items() if r not in eff_requests}
    )
    for resource, (path, request, source) in eff_requests.items():
        limit = eff_limits.get(resource)
        if limit is None:
            if resource in requests and not _overcommittable(resource):
                yield Finding(
                    path,
                    f"{what} requests {resource} {request} without a limit of it: the API server refuses a pod that "
                    f"does not limit {resource} (it cannot be overcommitted)",
                    f"set limits.{resource}: {request} too",
                    "quota",
                )
            continue
        _, limit_written, limit_source = limit
        if resources.parse(request) > resources.parse(limit_written):
            given = f"the limit {limit_written} {filled} ({limit_source})" if limit_source else "its limit"
            yield Finding(
                path,
                f"{what} requests {resource} {request}{f' ({source})' if source else ''}, above {given}"
                f"{'' if limit_source else f' {limit_written}'}: the API server refuses its pod",
                f"set limits.{resource} to at least {request}" if limit_source else "request at most the limit",
                "quota",
            )
        elif not _overcommittable(resource) and resources.parse(request) != resources.parse(limit_written):
            yield Finding(
                path,
                f"{what} requests {resource} {request} and limits it to {limit_written}: the API server refuses a "
                f"pod whose {resource} request differs from its limit (it cannot be overcommitted)",
                f"request and limit the same {resource}",
                "quota",
            )
    limited = {r: (p, q) for r, (p, q, _) in eff_limits.items()}
    requested = {r: (p, q) for r, (p, q, _) in eff_requests.items()}
    if found is not None:
        yield from _bounds(name, bounds, limited, what, "max")
        yield from _bounds(name, bounds, requested, what, "min")
    yield from quota_findings(tenant, requested, what, keys=request_keys)
    yield from quota_findings(tenant, limited, what, keys=limit_keys)


def _bounds(name: str, bounds: LimitRangeDefaults, asked: Asked, what: str, side: str) -> Iterable[Finding]:
    """`asked` (limits for `max`, requests for `min`) outside the LimitRange's `side`."""
    for resource, (path, written) in asked.items():
        if (
            side == "max"
            and resource in bounds.max
            and resources.parse(written) > resources.parse(bounds.max[resource])
        ):
            yield Finding(
                path,
                f"{what} asks for {resource} {written}, above the most the tenant's quota {name!r} lets a "
                f"container have (limitRange.max {resource}: {bounds.max[resource]}): its pod would be refused",
                f"ask for at most {bounds.max[resource]}, or raise limitRange.max in the tenant's quota",
                "quota",
            )
        if (
            side == "min"
            and resource in bounds.min
            and resources.parse(written) < resources.parse(bounds.min[resource])
        ):
            yield Finding(
                path,
                f"{what} asks for {resource} {written}, below the least the tenant's quota {name!r} lets a "
                f"container ask for (limitRange.min {resource}: {bounds.min[resource]}): its pod would be refused",
                f"ask for at least {bounds.min[resource]}, or lower limitRange.min in the tenant's quota",
                "quota",
            )


def limit_range_findings(tenant: TenantSpecs, asked: Asked, what: str) -> Iterable[Finding]:
    """A container whose request and limit (equal) fall outside the tenant's LimitRange `min`..`max`: the API server
    refuses its pod, so the object that makes the pod is written and never runs."""
    found = _limit_range(tenant)
    if found is not None:
        yield from _bounds(*found, asked, what, "max")
        yield from _bounds(*found, asked, what, "min")


def quota_findings(
    tenant: TenantSpecs,
    asked: Asked,
    what: str,
    pods: int = 1,
    keys: Callable[[str], tuple[str, ...]] = quota_keys,
) -> Iterable[Finding]:
    """`pods` containers asking for `asked` (requests equal to limits, unless `keys` says which of a resource's
    quota keys `asked` counts against) that alone exceed the tenant's quota: the object is written and its pods
    never all start."""
    for quota in tenant.of_kind("Quota"):
        hard = cast(Quota, quota).spec.hard
        for resource, (path, written) in asked.items():
            need = resources.parse(written) * pods
            for key in keys(resource):
                if key in hard and need > resources.parse(hard[key]):
                    times = f" x {pods} replicas" if pods > 1 else ""
                    yield Finding(
                        path,
                        f"{what} needs {resource} {written}{times}, more than the tenant's quota {quota.name!r} "
                        f"allows ({key}: {hard[key]})",
                        f"ask for less, or raise {key} in the tenant's quota",
                        "quota",
                    )
