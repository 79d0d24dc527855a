"""Shard Leases against an in-memory API: one holder per shard at all times, takeover, rebalance, disagreement."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from reconciler.backends.kubernetes import HttpError
from reconciler.leader import LeaseConfig
from reconciler.sharding import assignment
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


def test_three_replicas_divide_the_shards_as_rendezvous_hashing_says_with_one_holder_each() -> None:
    api, clock = FakeLeases(), Clock()
    replicas = [_replica(api, clock, who) for who in "abc"]
    _tick(clock, replicas, rounds=3)
    writers = _writers(replicas)
    assert sorted(writers) == list(range(SHARDS))
    assert {s: w[0] for s, w in writers.items()} == assignment(SHARDS, "abc")
    assert all(r.members == ("a", "b", "c") for r in replicas)
    assert api.leases[member_lease("a")]["metadata"]["annotations"][SHARDS_ANNOTATION] == str(SHARDS)


def test_a_replica_that_dies_loses_its_shards_to_the_others_within_one_lease_duration() -> None:
    api, clock = FakeLeases(), Clock()
    a, b, c = (_replica(api, clock, who) for who in "abc")
    _tick(clock, [a, b, c], rounds=3)
    lost = set(c.held())
    assert lost
    died = clock.now
    survivors = [a, b]
    while set(a.held()) | set(b.held()) != set(range(SHARDS)):
        _tick(clock, survivors)
        assert clock.now - died <= 15 + 2 * 2, "the shards did not move within a lease duration"
    assert set(_writers(survivors)) == set(range(SHARDS))
    assert not c.held(), "a replica that stopped renewing stopped writing at its renew deadline"
    assert {s: w[0] for s, w in _writers(survivors).items()} == assignment(SHARDS, "ab")


def test_a_replica_that_joins_takes_only_the_shards_it_wins_and_the_others_move_nothing_else() -> None:
    api, clock = FakeLeases(), Clock()
    replicas = [_replica(api, clock, who) for who in "abc"]
    _tick(clock, replicas, rounds=3)
    before = {s: w[0] for s, w in _writers(replicas).items()}
    replicas.append(_replica(api, clock, "d"))
    _tick(clock, replicas, rounds=3)
    after = {s: w[0] for s, w in _writers(replicas).items()}
    assert after == assignment(SHARDS, "abcd")
    assert all(after[s] == "d" for s in after if after[s] != before[s])
    assert set(after.values()) == set("abcd")


def test_a_replica_keeps_a_shard_it_must_give_up_until_its_loop_is_between_passes() -> None:
    api, clock = FakeLeases(), Clock()
    a = _replica(api, clock, "a")
    _tick(clock, [a], rounds=2)
    assert a.held() == list(range(SHARDS))
    b = _replica(api, clock, "b")
    b.step()
    a.step()  # a sees b: b's shards are leaving, still held and written (a pass may be running)
    leaving = set(a.leaving)
    assert leaving and leaving <= set(a.held())
    assert not set(b.held()) & leaving
    assert set(a.release_leaving()) == leaving
    b.step()
    assert set(b.held()) == leaving
    assert not set(a.held()) & leaving


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
