"""Who the replicas of a sharded controller are, as one LIST of their Leases says: its members, the number of
shards each states, who holds each shard and the leader's Lease.

A replica's shard protocol (reconciler.shardleases) acts on this each round; what a listing means is read here
apart from what the replica does about it. Liveness is as this replica observes it (reconciler.leases'
`LeaseSightings`: a record that keeps changing within its duration, never another machine's clock); the `mlcp
shards` view (reconciler.shardstatus) reads the same names once, by the clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controlplane import digits
from reconciler import sharding
from reconciler.leases import LEADER_LEASE, LeaseSightings

MEMBER_PREFIX = "mlcp-member-"
SHARDS_ANNOTATION = "mlcp.dev/shards"
"""On a membership Lease: the number of shards that replica divides tenants into."""


def member_lease(identity: str) -> str:
    return MEMBER_PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Roster:
    """What one LIST of the controller namespace's Leases says, as this replica observes it."""

    members: frozenset[str]
    """The holders of live membership Leases."""
    numbers: Mapping[str, str]
    """Member → the number of shards it states (members that state none are left out)."""
    leader: str | None
    """The live holder of the leader's Lease, or None."""
    shards: tuple[tuple[int, str | None, float], ...]
    """(shard, its live holder or None, since when its record has been seen), in the listing's order; shards
    outside `0..shards-1` and Leases whose name is no shard's are left out."""
    seen: frozenset[str]
    """The names of every Lease listed."""


def read(listing: Mapping[str, Any], sightings: LeaseSightings, now: float, shards: int) -> Roster:
    """The roster of `listing` (a LIST of Leases answered at `now`); `sightings` learns every record listed and
    forgets the Leases no longer there."""
    members: set[str] = set()
    numbers: dict[str, str] = {}
    held: list[tuple[int, str | None, float]] = []
    seen: set[str] = set()
    leader: str | None = None
    for lease in listing.get("items") or []:
        meta, spec = lease.get("metadata") or {}, lease.get("spec") or {}
        name = str(meta.get("name") or "")
        seen.add(name)
        holder, since = sightings.live(name, spec, now)
        if name == LEADER_LEASE:
            leader = holder
        if name.startswith(sharding.LEASE_PREFIX):
            shard = digits.number(name[len(sharding.LEASE_PREFIX) :])
            if shard is not None and shard < shards:
                held.append((shard, holder, since))
        if not name.startswith(MEMBER_PREFIX) or holder is None:
            continue
        members.add(holder)
        number = (meta.get("annotations") or {}).get(SHARDS_ANNOTATION)
        if number is not None:
            numbers[str(holder)] = str(number)
    sightings.keep(seen)
    return Roster(frozenset(members), numbers, leader, tuple(held), frozenset(seen))


def disagreement(shards: int, numbers: Mapping[str, str]) -> str | None:
    """Why no shard may be written while members state other numbers of shards than `shards`, or None."""
    others = {who: n for who, n in numbers.items() if n != str(shards)}
    if not others:
        return None
    return (
        f"replicas disagree on the number of shards (this one {shards}, "
        + ", ".join(f"{who}: {n}" for who, n in sorted(others.items()))
        + "); no shard is written until they agree"
    )


def outsider(holder: str | None, identity: str, members: set[str]) -> str | None:
    """Why a replica takes and writes no shard while `holder`, no member, holds the leader's Lease, or None."""
    if holder in (None, identity, *members):
        return None
    return (
        f"the leader's Lease is held by {holder!r}, which is no replica with --shards (an mlcp apply, or a "
        "controller without --shards): no shard is taken or written until it is released or runs out"
    )
