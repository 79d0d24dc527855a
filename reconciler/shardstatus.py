"""Who holds what in a sharded controller, as its Leases say: for `mlcp shards`, read once, never acted on.

An operator asking "which replica writes tenant X now?" during an incident had to hash the tenant by hand and read
the Lease of its shard. This reads every Lease of the controller namespace in one LIST and says it: the leader,
the members with the number of shards each states, each shard's holder, and the shard and holder of the tenants
asked about.

A one-shot read cannot observe a Lease's record change over its duration, as the replicas do (reconciler.
shardleases); so whether a Lease has run out is judged here by its renewTime, its duration and this machine's
clock. It is only shown, never used to decide anything: a replica never takes a shard on the word of this view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from controlplane import digits
from reconciler import sharding
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.leases import LEADER_LEASE, LEASES
from reconciler.membership import MEMBER_PREFIX, SHARDS_ANNOTATION


@dataclass(frozen=True, slots=True)
class Holding:
    """One Lease: who holds it, when it was last renewed, and whether it has run out by this machine's clock."""

    holder: str | None
    renewed: datetime | None
    duration: float
    expired: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "renewTime": self.renewed.isoformat().replace("+00:00", "Z") if self.renewed else None,
            "leaseDurationSeconds": self.duration,
            "expired": self.expired,
        }


@dataclass(frozen=True, slots=True)
class Member:
    identity: str
    shards: int | None
    """The number of shards this member was started with (None: not stated yet)."""
    lease: Holding


@dataclass(frozen=True, slots=True)
class TenantShard:
    tenant: str
    shard: int
    holder: str | None
    """The holder of the tenant's shard Lease now (None: free or run out)."""


@dataclass(frozen=True, slots=True)
class ShardStatus:
    namespace: str
    shards: int | None
    """The number the live members state, when they agree (None: no live member, or they disagree)."""
    numbers: frozenset[int]
    """Every number the live members state: more than one is a disagreement, and then no shard is written."""
    leader: Holding | None
    members: tuple[Member, ...]
    leases: Mapping[int, Holding]
    tenants: tuple[TenantShard, ...]

    @property
    def sharded(self) -> bool:
        return bool(self.members or self.leases)

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "sharded": self.sharded,
            "shards": self.shards,
            "agree": len(self.numbers) <= 1,
            "numbers": sorted(self.numbers),
            "leader": self.leader.to_dict() if self.leader else None,
            "members": [{"identity": m.identity, "shards": m.shards, **m.lease.to_dict()} for m in self.members],
            "leases": [{"shard": shard, **held.to_dict()} for shard, held in sorted(self.leases.items())],
            "tenants": [{"tenant": t.tenant, "shard": t.shard, "holder": t.holder} for t in self.tenants],
        }


def _time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _holding(spec: Mapping[str, Any], now: datetime) -> Holding:
    holder = spec.get("holderIdentity") or None
    renewed = _time(spec.get("renewTime")) or _time(spec.get("acquireTime"))
    try:
        duration = float(spec.get("leaseDurationSeconds") or 0)
    except (TypeError, ValueError):
        duration = 0.0
    expired = holder is None or renewed is None or renewed + timedelta(seconds=duration) < now
    return Holding(str(holder) if holder else None, renewed, duration, expired)


def _number(text: object) -> int | None:
    value = digits.number(text, 6)
    return value if value is not None and value > 0 else None


def status(
    namespace: str, leases: Iterable[Mapping[str, Any]], now: datetime, tenants: Iterable[str] = ()
) -> ShardStatus:
    """What the Leases of `namespace` (a LIST's items) say at `now`, and the shard of each of `tenants`."""
    leader: Holding | None = None
    members: list[Member] = []
    held: dict[int, Holding] = {}
    for lease in leases:
        meta, spec = lease.get("metadata") or {}, lease.get("spec") or {}
        name = str(meta.get("name") or "")
        holding = _holding(spec, now)
        if name == LEADER_LEASE:
            leader = holding
        elif name.startswith(MEMBER_PREFIX) and holding.holder is not None:
            stated = _number((meta.get("annotations") or {}).get(SHARDS_ANNOTATION))
            members.append(Member(holding.holder, stated, holding))
        elif (
            name.startswith(sharding.LEASE_PREFIX)
            and (shard := digits.number(name[len(sharding.LEASE_PREFIX) :])) is not None
        ):
            held[shard] = holding
    members.sort(key=lambda m: m.identity)
    numbers = frozenset(m.shards for m in members if not m.lease.expired and m.shards is not None)
    count = next(iter(numbers)) if len(numbers) == 1 else None
    found: list[TenantShard] = []
    if count is not None:
        for tenant in tenants:
            shard = sharding.shard_of(tenant, count)
            now_held = held.get(shard)
            holder = now_held.holder if now_held is not None and not now_held.expired else None
            found.append(TenantShard(tenant, shard, holder))
    return ShardStatus(namespace, count, numbers, leader, tuple(members), held, tuple(found))


def read(kube: KubeClient, namespace: str, tenants: Iterable[str] = (), now: datetime | None = None) -> ShardStatus:
    """One LIST of the namespace's Leases, judged at `now` (default: this machine's clock)."""
    listing = kube.request("GET", LEASES.format(namespace=namespace))
    items = listing.get("items") or []
    return status(namespace, items, now or datetime.now(UTC), tenants)
