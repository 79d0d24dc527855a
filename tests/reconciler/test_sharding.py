"""Rendezvous hashing: every replica agrees, tenants spread evenly, and replicas joining or leaving move little."""

from __future__ import annotations

from collections import Counter

import pytest

from reconciler.sharding import PLATFORM, assignment, lease_name, moved, owner, shard_of

TENANTS = [f"team-{i}" for i in range(2000)]


def test_a_tenant_always_lands_on_the_same_shard_and_objects_of_no_tenant_on_none() -> None:
    assert [shard_of(t, 8) for t in TENANTS[:50]] == [shard_of(t, 8) for t in TENANTS[:50]]
    assert shard_of(None, 8) == PLATFORM and shard_of("", 8) == PLATFORM
    assert {shard_of(t, 1) for t in TENANTS} == {0}


def test_tenants_spread_over_the_shards_within_a_fifth_of_the_mean() -> None:
    counts = Counter(shard_of(t, 8) for t in TENANTS)
    assert set(counts) == set(range(8))
    mean = len(TENANTS) / 8
    assert all(abs(n - mean) < mean / 5 for n in counts.values()), counts


def test_adding_a_shard_moves_only_tenants_to_the_new_shard() -> None:
    before = {t: shard_of(t, 8) for t in TENANTS}
    after = {t: shard_of(t, 9) for t in TENANTS}
    changed = [t for t in TENANTS if before[t] != after[t]]
    assert all(after[t] == 8 for t in changed)
    assert len(changed) < len(TENANTS) / 9 * 1.3


def test_a_replica_that_joins_takes_about_its_share_and_nothing_else_moves() -> None:
    shards = 64
    three = assignment(shards, ["a", "b", "c"])
    four = assignment(shards, ["a", "b", "c", "d"])
    changed = moved(three, four)
    assert changed and all(four[s] == "d" for s in changed)
    assert len(changed) <= shards / 4 * 1.6


def test_a_replica_that_leaves_gives_up_only_its_own_shards() -> None:
    shards = 64
    three = assignment(shards, ["a", "b", "c"])
    two = assignment(shards, ["a", "c"])
    assert moved(three, two) == {s for s, who in three.items() if who == "b"}
    assert set(two.values()) == {"a", "c"}


def test_every_replica_computes_the_same_assignment_whatever_order_it_sees_members_in() -> None:
    assert assignment(16, ["c", "a", "b"]) == assignment(16, ["a", "b", "c", "a"])
    assert owner(3, []) is None and assignment(4, []) == {}


def test_shard_leases_are_named_by_number() -> None:
    assert lease_name(2) == "mlcp-shard-2"
    with pytest.raises(ValueError, match="at least 1"):
        shard_of("t", 0)
