"""Which shard a tenant belongs to, and which replica should hold a shard: rendezvous (highest random weight) hashing.

Two mappings, both by rendezvous hashing, both pure functions of names:

- tenant → shard, over the fixed shard ids `0..shards-1`. Every replica computes
  the same answer from the tenant's name alone (no table to agree on or store);
  objects of no tenant (the deployer ClusterRole) belong to no shard: the leader
  keeps them (`PLATFORM`).
- shard → replica, over the replicas alive now. When a replica joins, only the
  shards whose top score it wins move to it (about shards / replicas of them);
  when one leaves, only its own shards move, each to the next-best replica. That
  is the minimal movement consistent hashing promises, with no ring or virtual
  nodes to tune, in a few lines.

The score is blake2b of the two names: stable across processes and Python
versions (unlike `hash()`), and uniform enough that 10,000 tenants spread over
16 shards within a few percent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

PLATFORM = -1
"""The "shard" of objects of no tenant: held by the leader, not by a shard lease."""
LEASE_PREFIX = "mlcp-shard-"


def _score(key: str, bucket: str) -> int:
    digest = hashlib.blake2b(f"{key}\0{bucket}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(tenant: str | None, shards: int) -> int:
    """The shard of a tenant (`PLATFORM` for objects of no tenant)."""
    if not tenant:
        return PLATFORM
    if shards < 1:
        raise ValueError("the number of shards must be at least 1")
    return max(range(shards), key=lambda shard: _score(tenant, str(shard)))


def owner(shard: int, members: Iterable[str]) -> str | None:
    """The replica that should hold `shard` among `members` (None when there is none)."""
    return max(members, key=lambda member: (_score(str(shard), member), member), default=None)


def assignment(shards: int, members: Iterable[str]) -> dict[int, str]:
    """Shard → the replica that should hold it (empty when no replica is alive)."""
    alive = sorted(set(members))
    if not alive:
        return {}
    return {shard: str(owner(shard, alive)) for shard in range(shards)}


def moved(before: Mapping[int, str], after: Mapping[int, str]) -> set[int]:
    """The shards whose holder differs between two assignments."""
    return {shard for shard in set(before) | set(after) if before.get(shard) != after.get(shard)}


def lease_name(shard: int) -> str:
    return f"{LEASE_PREFIX}{shard}"
