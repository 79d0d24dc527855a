"""`mlcp apply`'s turn on the leader's Lease against an in-memory API: refused when it cannot be taken."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.applyturn import Sharded, ShardWriters, hold, keep
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes import HttpError
from reconciler.leader import LeaderElector
from reconciler.leases import LEADER_LEASE, LeaseConfig
from tests.reconciler import test_shardleases as shards
from tests.reconciler.test_leader import FakeLeases


def test_an_apply_without_the_right_to_take_the_lease_is_told_at_once() -> None:
    api = FakeLeases()
    api.forbidden = True
    with pytest.raises(HttpError, match="forbidden"), hold(api, "ns", "cli", timeout=600):  # type: ignore[arg-type]
        raise AssertionError("never held")


def test_an_apply_is_refused_at_once_while_a_sharded_controller_holds_its_shards() -> None:
    api = FakeLeases()
    api.shard_zero = {"metadata": {"name": "mlcp-shard-0", "resourceVersion": "1"}, "spec": {"holderIdentity": "r1"}}
    turn = hold(api, "ns", "cli")  # type: ignore[arg-type]
    with pytest.raises(BackendError, match=r"runs sharded.*nothing was applied"), turn:
        pytest.fail("the turn must not start")
    assert api.lease is None, "the leader's Lease was not even asked for"


def test_an_apply_that_took_the_lease_as_a_replica_took_a_shard_is_refused_before_it_writes() -> None:
    """The apply looked at the shard Leases once, before it asked: a replica that took a shard meanwhile wrote the
    tenants the apply wrote."""
    api, clock = shards.FakeLeases(), shards.Clock()
    replica = shards._replica(api, clock, "r1", shards=2)
    replica.step()  # joins; takes shards a retry period later
    clock.now += 2
    api.before["POST", LEADER_LEASE] = replica.step  # the apply's first look is behind it, its take not yet in
    refused = pytest.raises(Sharded, match=r"runs sharded \(Lease mlcp-shard-\d is held by 'r1'\)")
    with refused, hold(api, "ns", "cli"):  # type: ignore[arg-type]
        pytest.fail("the turn must not start")
    assert replica.held() == [0, 1], "the replica writes its shards"
    assert not api.leases[LEADER_LEASE]["spec"]["holderIdentity"], "the apply released the Lease at once"


def test_an_apply_stops_writing_when_a_shard_lease_gets_a_holder_during_its_turn() -> None:
    """A replica (of an mlcp that does not read the leader's Lease) took a shard during the turn."""
    api = shards.FakeLeases()
    turn = LeaderElector(api, LeaseConfig("ns", "cli"))  # type: ignore[arg-type]
    assert turn.step() and keep(turn) and turn.may_write()
    api.leases["mlcp-shard-3"] = {"metadata": {"name": "mlcp-shard-3", "resourceVersion": "1"}, "spec": {}}
    api.leases["mlcp-shard-0"] = {"metadata": {"name": "mlcp-shard-0", "resourceVersion": "1"}, "spec": {}}
    assert keep(turn) and turn.may_write(), "released shard Leases: nobody writes them"
    api.leases["mlcp-shard-3"]["spec"] = {"holderIdentity": "r1"}
    assert not keep(turn) and not turn.may_write()
    assert not api.leases[LEADER_LEASE]["spec"]["holderIdentity"], "released for the loop"


class Unlisted(shards.FakeLeases):
    def request(self, method: str, path: str, query: Any = None, body: Any = None, **kw: Any) -> dict[str, Any]:
        if method == "GET" and path == shards.COLLECTION:
            raise HttpError(403, "Forbidden", {"message": "leases is forbidden: User cannot list"})
        return super().request(method, path, query, body, **kw)


def test_where_a_sharded_controller_ran_an_apply_that_cannot_list_the_leases_is_refused() -> None:
    api = Unlisted()
    api.leases["mlcp-shard-0"] = {"metadata": {"name": "mlcp-shard-0", "resourceVersion": "1"}, "spec": {}}
    with (
        pytest.raises(
            BackendError, match=r"needs `list` on leases in ns \(the deployed Role has it\); nothing was written"
        ),
        hold(api, "ns", "cli"),
    ):  # type: ignore[arg-type]
        pytest.fail("the turn must not start")


def test_a_controller_without_shards_sees_a_replicas_shards_until_it_leaves() -> None:
    """A rollout from sharded to unsharded: the new leader must not write beside the old replicas."""
    api, clock = shards.FakeLeases(), shards.Clock()
    replica = shards._replica(api, clock, "r1", shards=2)
    writers = ShardWriters(api, "ns", clock)  # type: ignore[arg-type]
    assert writers.live() == [], "no sharded controller ever ran here"
    replica.step()
    clock.now += 2
    replica.step()
    assert replica.held() == [0, 1]
    assert writers.live() == [("mlcp-shard-0", "r1"), ("mlcp-shard-1", "r1")]
    replica.release_all()
    assert writers.live() == [], "released shards are nobody's"


def test_a_killed_replicas_shards_stop_counting_one_lease_duration_after_their_last_renewal_as_seen_here() -> None:
    api, clock = shards.FakeLeases(), shards.Clock()
    replica = shards._replica(api, clock, "r1", shards=2)
    replica.step()
    clock.now += 2
    replica.step()
    writers = ShardWriters(api, "ns", clock)  # type: ignore[arg-type]
    assert len(writers.live()) == 2, "first seen now: alive for a lease duration from here, whatever renewTime says"
    clock.now += 14
    assert len(writers.live()) == 2, "its fence may still let it write"
    clock.now += 2
    assert writers.live() == [], "its record has not changed for the lease duration (15 s): it writes no more"
