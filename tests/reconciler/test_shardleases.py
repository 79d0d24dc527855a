"""Shard Leases against an in-memory API: one holder per shard at all times, takeover, rebalance, disagreement."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from reconciler.backends.kubernetes import HttpError
from reconciler.leader import LeaseConfig
from reconciler.shardleases import SHARDS_ANNOTATION, ShardConfig, ShardSet, member_lease

COLLECTION = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"


class FakeLeases:
    """Leases by name: GET, LIST, POST, PUT with resourceVersion checks, merge PATCH of annotations."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0

    def request(self, method: str, path: str, query: Any = None, body: Any = None, **_: Any) -> dict[str, Any]:
        if method == "GET" and path == COLLECTION:
            return {"items": [copy.deepcopy(lease) for lease in self.leases.values()]}
        name = path.rsplit("/", 1)[1] if path != COLLECTION else body["metadata"]["name"]
        found = self.leases.get(name)
        if method == "GET":
            if found is None:
                raise HttpError(404, "not found", {})
            return copy.deepcopy(found)
        if method == "POST":
            if found is not None:
                raise HttpError(409, "exists", {})
            return self._store(name, body)
        if method == "PUT":
            assert found is not None
            if body["metadata"].get("resourceVersion") != found["metadata"]["resourceVersion"]:
                raise HttpError(409, "conflict", {})
            return self._store(name, body)
        if method == "PATCH":
            assert found is not None
            found["metadata"].setdefault("annotations", {}).update(body["metadata"]["annotations"])
            return self._store(name, found)
        raise AssertionError(method)

    def _store(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.leases[name] = copy.deepcopy(body)
        self.leases[name]["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.leases[name])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SHARDS = 12


def _replica(api: FakeLeases, clock: Clock, who: str, shards: int = SHARDS) -> ShardSet:
    lease = LeaseConfig("ns", who, duration=15, renew_deadline=10, retry_period=2)
    return ShardSet(api, ShardConfig(shards, lease), clock)  # type: ignore[arg-type]


def _writers(replicas: Iterable[ShardSet]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for replica in replicas:
        for shard in replica.held():
            out.setdefault(shard, []).append(replica.identity)
    return out


def _tick(clock: Clock, replicas: list[ShardSet], rounds: int = 1) -> None:
    """Each replica steps and releases what it gives up (as its loop does between passes); never two writers."""
    for _ in range(rounds):
        for replica in replicas:
            replica.step()
            replica.release_leaving()
            assert all(len(w) == 1 for w in _writers(replicas).values()), _writers(replicas)
        clock.now += 2


def _held(replicas: Iterable[ShardSet]) -> dict[str, set[int]]:
    return {r.identity: set(r.held()) for r in replicas}


def _balanced(replicas: list[ShardSet]) -> bool:
    counts = [len(r.held()) for r in replicas]
    return sum(counts) == SHARDS and max(counts) - min(counts) <= 1


def test_three_replicas_divide_the_shards_evenly_with_one_holder_each() -> None:
    api, clock = FakeLeases(), Clock()
    replicas = [_replica(api, clock, who) for who in "abc"]
    _tick(clock, replicas, rounds=4)
    assert sorted(_writers(replicas)) == list(range(SHARDS))
    assert [len(r.held()) for r in replicas] == [4, 4, 4]
    assert all(r.members == ("a", "b", "c") for r in replicas)
    assert api.leases[member_lease("a")]["metadata"]["annotations"][SHARDS_ANNOTATION] == str(SHARDS)


def test_a_replica_that_dies_loses_only_its_shards_to_the_others_within_one_lease_duration() -> None:
    api, clock = FakeLeases(), Clock()
    a, b, c = (_replica(api, clock, who) for who in "abc")
    _tick(clock, [a, b, c], rounds=4)
    before = _held([a, b, c])
    died = clock.now
    survivors = [a, b]
    while set(a.held()) | set(b.held()) != set(range(SHARDS)):
        _tick(clock, survivors)
        assert clock.now - died <= 15 + 2 * 2, "the shards did not move within a lease duration"
    assert not c.held(), "a replica that stopped renewing stopped writing at its renew deadline"
    after = _held(survivors)
    assert before["a"] <= after["a"] and before["b"] <= after["b"], "the survivors kept what they held"
    assert _balanced(survivors)


def test_a_replica_that_joins_receives_shards_and_no_other_shard_moves() -> None:
    api, clock = FakeLeases(), Clock()
    replicas = [_replica(api, clock, who) for who in "abc"]
    _tick(clock, replicas, rounds=4)
    before = _held(replicas)
    replicas.append(_replica(api, clock, "d"))
    _tick(clock, replicas, rounds=4)
    after = _held(replicas)
    assert [len(after[w]) for w in "abcd"] == [3, 3, 3, 3]
    assert all(after[w] <= before[w] for w in "abc"), "old replicas only gave shards away"
    assert after["d"] == set().union(*(before[w] - after[w] for w in "abc")), "every moved shard went to d"


def test_a_replica_keeps_a_shard_it_must_give_up_until_its_loop_is_between_passes() -> None:
    api, clock = FakeLeases(), Clock()
    a = _replica(api, clock, "a")
    _tick(clock, [a], rounds=2)
    assert a.held() == list(range(SHARDS))
    b = _replica(api, clock, "b")
    b.step()
    a.step()  # a sees b holding none: half of a's shards are leaving, still held and written (a pass may run)
    leaving = set(a.leaving)
    assert len(leaving) == SHARDS // 2 and leaving <= set(a.held())
    assert not set(b.held()) & leaving
    assert set(a.release_leaving()) == leaving
    b.step()
    assert set(b.held()) == leaving
    assert not set(a.held()) & leaving


def test_a_shard_nobody_takes_is_taken_over_the_share_after_two_lease_durations() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = _replica(api, clock, "a"), _replica(api, clock, "b")
    _tick(clock, [a, b], rounds=4)
    b.member.step()  # b stays a member but never takes anything: its shards stay free after it lets them go
    for shard in list(b.held()):
        b._electors[shard].release()
    b.step = lambda: None  # type: ignore[method-assign]
    start = clock.now
    while len(a.held()) < SHARDS:
        b.member.step()
        _tick(clock, [a])
        assert clock.now - start < 2 * 15 + 10, "orphaned shards were never taken"
    assert len(a.held()) == SHARDS


def test_a_clean_stop_hands_every_shard_over_at_once() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = _replica(api, clock, "a"), _replica(api, clock, "b")
    _tick(clock, [a, b], rounds=3)
    a.release_all()
    b.step()
    b.step()
    assert b.members == ("b",) and b.held() == list(range(SHARDS))


def test_replicas_that_disagree_on_the_number_of_shards_write_none() -> None:
    api, clock = FakeLeases(), Clock()
    a = _replica(api, clock, "a")
    _tick(clock, [a], rounds=2)
    assert a.held()
    b = _replica(api, clock, "b", shards=SHARDS + 1)
    _tick(clock, [a, b], rounds=2)
    assert a.conflict and b.conflict and "disagree" in a.conflict
    assert not a.held() and not b.held()
    assert a.remaining(0) == 0.0
