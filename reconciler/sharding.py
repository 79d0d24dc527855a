"""Which shard a tenant belongs to, and which replica should hold a shard: rendezvous (highest random weight) hashing.

Two mappings, both by rendezvous hashing, both pure functions of names:

- tenant → shard, over the fixed shard ids `0..shards-1`. Every replica computes
  the same answer from the tenant's name alone (no table to agree on or store);
  objects of no tenant (the deployer ClusterRole) belong to no shard: the leader
  keeps them (`PLATFORM`).
- a replica's preference among the shards (`preference`): which free shard it
  tries first, and which it hands over first when it holds too many. Pure
  rendezvous placement of 8 shards on 3 replicas leaves one replica idle about
  as often as not (5/3/0), so the shards a replica holds are bounded by its fair
  share instead (`fair_share`, consistent hashing with bounded loads), and
  held shards stay where they are: a replica that leaves frees only its own
  shards, one that joins receives only the shards others hand over to reach
  their share — the minimal movement (reconciler.shardleases).

The score is blake2b of the two names: stable across processes and Python
versions (unlike `hash()`), and uniform enough that 10,000 tenants spread over
16 shards within a few percent.
"""

from __future__ import annotations

import hashlib
from collections import Counter
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


def preference(member: str, shards: Iterable[int]) -> list[int]:
    """`shards` in the order `member` prefers them (highest rendezvous score first)."""
    return sorted(shards, key=lambda shard: (-_score(str(shard), member), shard))


def fair_share(shards: int, members: int) -> tuple[int, int]:
    """(fewest, most) shards one of `members` replicas should hold: floor and ceiling of shards / members."""
    if members < 1:
        return 0, shards
    return shards // members, -(-shards // members)


def lease_name(shard: int) -> str:
    return f"{LEASE_PREFIX}{shard}"


def divide(
    member: str,
    members: tuple[str, ...],
    shards: int,
    held: set[int],
    holders: Mapping[int, str | None],
    free_since: Mapping[int, float],
    now: float,
    orphaned: float,
) -> tuple[set[int], set[int]]:
    """(shards to keep, free shards to take) for `member`, holding `held`, among the live `members`, as the shards'
    `holders` were last listed (None: free since `free_since`).

    Within its fair share it keeps what it holds and takes free shards in its order of preference; over the share
    while another member is below it (a replica joined), it keeps only the shards it prefers most; a shard free
    for longer than `orphaned` is taken over the share (its preferred takers are stuck)."""
    _, high = fair_share(shards, len(members))
    counts = Counter(h for s, h in holders.items() if h and s not in held)
    keep = set(held)
    below = any(counts.get(m, 0) < high for m in members if m != member)
    if len(held) > high and below:  # a replica joined (or took orphans): hand over what it wins the least
        keep = set(preference(member, sorted(held))[: max(high, 0)])
    free = [s for s in preference(member, range(shards)) if s not in held]
    free = [s for s in free if holders.get(s) is None]
    room = max(0, high - len(keep))
    orphans = {s for s in free[room:] if now - free_since.get(s, now) > orphaned}
    return keep, set(free[:room]) | orphans
