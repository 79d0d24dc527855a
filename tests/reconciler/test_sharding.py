"""Rendezvous hashing: every replica agrees, tenants spread evenly, and replicas joining or leaving move little."""

from __future__ import annotations

from collections import Counter

import pytest

from reconciler.sharding import PLATFORM, divide, fair_share, lease_name, preference, shard_of

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


def test_a_fair_share_is_the_floor_and_ceiling_of_shards_per_replica() -> None:
    assert fair_share(8, 3) == (2, 3)
    assert fair_share(12, 4) == (3, 3)
    assert fair_share(4, 0) == (0, 4)


def test_each_replica_prefers_the_shards_in_its_own_stable_order() -> None:
    assert preference("a", range(16)) == preference("a", reversed(range(16)))
    assert preference("a", range(16)) != preference("b", range(16))
    assert sorted(preference("a", [3, 1, 2])) == [1, 2, 3]


def test_shard_leases_are_named_by_number() -> None:
    assert lease_name(2) == "mlcp-shard-2"
    with pytest.raises(ValueError, match="at least 1"):
        shard_of("t", 0)


def test_a_member_over_its_share_keeps_what_it_prefers_while_another_lacks_and_takes_long_free_shards() -> None:
    order = preference("a", range(4))
    keep, take = divide("a", ("a", "b"), 4, set(range(4)), dict.fromkeys(range(4), "a"), {}, 0.0, 30.0)
    assert keep == set(order[:2]) and take == set()
    keep, take = divide("a", ("a", "b"), 4, set(), {0: "b", 1: "b", 2: None, 3: None}, {2: 0.0, 3: 0.0}, 10.0, 30.0)
    assert keep == set() and take == {2, 3}
    keep, take = divide("a", ("a", "b", "c"), 3, {0}, {0: "a", 1: None, 2: None}, {1: 0.0, 2: 0.0}, 31.0, 30.0)
    assert keep == {0} and take == {1, 2}  # free for longer than `orphaned`: taken over the share
