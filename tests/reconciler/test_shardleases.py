"""Shard Leases against an in-memory API: one holder per shard at all times, takeover, rebalance, disagreement."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from reconciler import sharding
from reconciler.backends.kubernetes import HttpError
from reconciler.leader import LeaderElector
from reconciler.leases import LEADER_LEASE, LeaseConfig
from reconciler.membership import SHARDS_ANNOTATION, member_lease
from reconciler.shardleases import ShardConfig, ShardSet
from tests.reconciler.test_leader import captured_logs

COLLECTION = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"


class FakeLeases:
    """Leases by name: GET, LIST, POST, PUT with resourceVersion checks, merge PATCH of annotations."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.listing: list[Callable[[], None]] = []
        """Run, one for each LIST, while it is in flight: the world moves before the server answers."""
        self.before: dict[tuple[str, str], Callable[[], None]] = {}
        """(method, Lease) → run once, while that request is in flight, before the server answers it."""

    def request(self, method: str, path: str, query: Any = None, body: Any = None, **_: Any) -> dict[str, Any]:
        if method == "GET" and path == COLLECTION and self.listing:
            self.listing.pop(0)()
        if path != COLLECTION or method == "POST":
            hook = self.before.pop(
                (method, path.rsplit("/", 1)[1] if path != COLLECTION else body["metadata"]["name"]), None
            )
            if hook is not None:
                hook()
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
    clock.now += 2  # a retry period after b joined
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


def test_replicas_started_together_divide_the_shards_at_once_not_after_the_first_took_all() -> None:
    api, clock = FakeLeases(), Clock()
    replicas = [_replica(api, clock, who, shards=8) for who in "abc"]
    for replica in replicas:  # each joins in its first step, and takes nothing yet
        replica.step()
    assert not any(r.held() for r in replicas)
    clock.now += 2
    for replica in replicas:
        replica.step()
    assert sorted(len(r.held()) for r in replicas) == [2, 3, 3] and not any(r.leaving for r in replicas)


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


class SlowLeases(FakeLeases):
    """FakeLeases that counts the requests in flight at once. In `slow` mode each request waits (up to 5 s) until
    `expect` requests are in flight: requests sent together all arrive however slowly threads start on a loaded
    machine, while requests sent one after another never overlap (each waits out its 5 s alone)."""

    def __init__(self, expect: int, patience: float = 5.0) -> None:
        super().__init__()
        self.slow = False
        self.expect = expect
        self.patience = patience
        self.flying = 0
        self.most = 0
        self._lock = threading.Condition()

    def request(self, method: str, path: str, query: Any = None, body: Any = None, **kw: Any) -> dict[str, Any]:
        with self._lock:
            self.flying += 1
            self.most = max(self.most, self.flying)
            self._lock.notify_all()
            if self.slow:
                self._lock.wait_for(lambda: self.flying >= self.expect, timeout=self.patience)
        try:
            with self._lock:
                return super().request(method, path, query, body, **kw)
        finally:
            with self._lock:
                self.flying -= 1


def test_the_leases_held_are_renewed_at_once_not_one_after_another() -> None:
    api, clock = SlowLeases(expect=5), Clock()
    a = _replica(api, clock, "a", shards=4)
    _tick(clock, [a], rounds=2)
    assert a.held() == [0, 1, 2, 3]
    api.slow, api.most = True, 0
    a.step()
    assert api.most >= 5, f"membership and four shard Leases renewed together ({api.most} in flight at most)"


def test_a_late_renewal_keeps_the_shard_instead_of_letting_it_move() -> None:
    api, clock = FakeLeases(), Clock()
    replicas = [_replica(api, clock, who, shards=8) for who in "abc"]
    _tick(clock, replicas, rounds=4)
    before = _held(replicas)
    a = max(replicas, key=lambda r: len(r.held()))  # 3 of 8: the others hold 3 and 2
    clock.now += 11  # a's renewals were late: past its renew deadline (10 s), before the lease duration (15 s)
    assert not a.held()
    _tick(clock, [*(r for r in replicas if r is not a), a], rounds=10)  # the others step first
    assert _held(replicas) == before, "a renewed its own Leases again; nothing moved"


def test_a_replica_over_its_share_hands_over_only_what_another_lacks() -> None:
    api, clock = FakeLeases(), Clock()
    a = _replica(api, clock, "a", shards=8)
    a._joined = clock.now - 60
    a.view.members = ("a", "b", "c")
    a.view.holders = {4: "b", 5: "b", 6: "c", 7: "c"}  # a holds 0-3 (4/2/2, e.g. after taking an orphan)
    keep, take = a._plan({0, 1, 2, 3})
    assert len(keep) == 3 and keep < {0, 1, 2, 3} and not take, "one shard handed over: 3/2/2, then 3/3/2"
    a.view.holders = {3: "b", 4: "b", 5: "b", 6: "c", 7: "c"}  # 3/3/2: fair, nothing moves
    assert a._plan({0, 1, 2}) == ({0, 1, 2}, set())
    c = _replica(api, clock, "c", shards=8)
    c._joined = clock.now - 60
    c.view.members = ("a", "b", "c")
    c.view.holders = {0: "a", 1: "a", 2: "a", 3: None, 4: "b", 5: "b", 6: "b"}  # c holds 7; 3 was handed over
    assert c._plan({7}) == ({7}, {3}), "the one that lacks takes the shard handed over; only it moved"


def test_the_shards_thread_survives_any_error_of_a_step_and_tries_again_a_period_later() -> None:
    """A proxy's HTML 503 page made the client raise a ValueError: the thread died, and the replica never held a
    shard again while its probes said ok."""
    api, clock, stop = FakeLeases(), Clock(), threading.Event()
    fast = LeaseConfig("ns", "a", duration=1.5, renew_deadline=1.0, retry_period=0.01)
    replica = ShardSet(api, ShardConfig(2, fast), clock)  # type: ignore[arg-type]
    answer = api.request
    rounds: list[str] = []

    def request(method: str, path: str, *args: Any, **kw: Any) -> dict[str, Any]:
        if not rounds:
            rounds.append("broken")
            raise ValueError("unexpected character: line 1 column 1 (char 0)")
        if method == "GET" and path == COLLECTION:
            rounds.append("listed")
            stop.set()  # the second step is the last
        return answer(method, path, *args, **kw)

    api.request = request  # type: ignore[method-assign]
    with captured_logs() as errors:
        replica.run(stop)
    assert rounds == ["broken", "listed"] and replica.members == ("a",), "the next step joined"
    assert [r.getMessage() for r in errors if r.exc_info] == ["shard lease round failed; trying again"]


def test_a_record_is_dated_when_the_list_was_answered_not_when_it_was_sent() -> None:
    """A renewal that landed while a slow LIST was in flight was dated before it happened: the shard was taken
    while its holder, renewed during that LIST, could still write it."""
    api, clock = FakeLeases(), Clock()
    a, b = _replica(api, clock, "a", shards=1), _replica(api, clock, "b", shards=1)
    _tick(clock, [a, b])
    _tick(clock, [a, b])
    assert a.held() == [0] and not b.held()

    def slow() -> None:  # b's LIST sent at 1004, answered at 1011; a renewed at 1010 and may write until 1020
        clock.now = 1010.0
        a.step()
        clock.now = 1011.0

    api.listing.append(slow)
    b.step()  # then a stops: it renews nothing more
    while not b.held():
        clock.now += 2
        b.step()
        assert not (b.held() and a.held()), f"two writers at {clock.now}: a may write for {a.remaining(0):.1f}s"
    assert clock.now < 1011 + 15 + 2 * 2, "taken within a lease duration of the record's last change"


def test_the_shards_leaving_are_handed_out_as_a_copy_the_shards_thread_cannot_change() -> None:
    """The shards thread (ShardSet.step) changes the set of shards leaving while the loop's thread iterates it
    between passes: iterating the set itself raised "Set changed size during iteration" in the loop."""
    api, clock = FakeLeases(), Clock()
    a = _replica(api, clock, "a")
    _tick(clock, [a], rounds=2)
    b = _replica(api, clock, "b")
    b.step()
    a.step()
    leaving = set(a.leaving)
    assert len(leaving) == SHARDS // 2
    looked = set()
    for shard in a.leaving:  # the loop's thread...
        looked.add(shard)
        a._drop(shard)  # ...while the shards thread drops one (its writing right lapsed)
    assert looked == leaving and not a.leaving


def _cli(api: FakeLeases, clock: Clock) -> LeaderElector:
    """An `mlcp apply`'s turn on the leader's Lease (reconciler.applyturn)."""
    lease = LeaseConfig("ns", "mlcp-apply_laptop_1", duration=15, renew_deadline=10, retry_period=2)
    return LeaderElector(api, lease, clock)  # type: ignore[arg-type]


def test_a_replica_takes_and_writes_no_shard_while_an_apply_holds_the_leaders_lease() -> None:
    """A sharded controller stopped cleanly; an apply took the leader's Lease (it was refused only while shard 0
    was held, once, before it asked); a replica started meanwhile took the shards and wrote its tenants too."""
    api, clock = FakeLeases(), Clock()
    old = _replica(api, clock, "old", shards=2)
    _tick(clock, [old], rounds=3)
    assert old.held() == [0, 1]
    old.release_all()
    apply = _cli(api, clock)
    assert apply.step()
    new = _replica(api, clock, "new", shards=2)
    for _ in range(4):
        new.step()
        assert apply.step() and not new.held(), "the apply's turn: no shard is written by a replica"
        clock.now += 2
    assert new.yielding and "mlcp-apply_laptop_1" in new.yielding
    assert all(not lease["spec"].get("holderIdentity") for name, lease in api.leases.items() if "shard" in name)
    apply.release()
    new.step()
    new.step()
    assert new.held() == [0, 1] and new.yielding is None, "the turn is over: the replica takes its shards"


def test_a_shard_taken_as_an_apply_took_the_leaders_lease_is_released_unwritten() -> None:
    """The replica's LIST showed no apply; the apply took the leader's Lease and saw no shard held; then the
    replica took its shards. Writable at once, they were written beside the apply's writes."""
    api, clock = FakeLeases(), Clock()
    replica = _replica(api, clock, "r1", shards=2)
    replica.step()
    clock.now += 2
    apply = _cli(api, clock)
    api.before["POST", "mlcp-shard-1"] = apply.step  # after the replica's LIST, before its take lands
    held_when_checking: list[list[int]] = []
    api.before["GET", LEADER_LEASE] = lambda: held_when_checking.append(replica.held())
    replica.step()
    assert apply.may_write() and not replica.held(), "two writers: the apply and the replica"
    assert held_when_checking == [[]], "taken, not yet written: the leader's Lease is read first"
    assert replica.yielding
    assert not api.leases["mlcp-shard-1"]["spec"].get("holderIdentity"), "released unwritten"


def test_a_replica_makes_the_lease_of_shard_0_before_it_takes_any_shard() -> None:
    """`mlcp apply` tells from one GET of mlcp-shard-0 that no shard is held while that Lease does not exist."""
    first = next(w for w in "abcdefgh" if sharding.preference(w, [0, 1])[0] == 1)
    second = next(w for w in "abcdefgh" if w != first)
    api, clock = FakeLeases(), Clock()
    replicas = [_replica(api, clock, first, shards=2), _replica(api, clock, second, shards=2)]
    made: list[bool] = []
    api.before["POST", "mlcp-shard-1"] = lambda: made.append("mlcp-shard-0" in api.leases)
    _tick(clock, replicas, rounds=3)
    assert made == [True]
    assert replicas[0].held() == [1] and replicas[1].held() == [0]


def test_leases_named_with_digits_of_other_scripts_are_no_shards() -> None:
    """Whoever may write Leases in the namespace names one `mlcp-shard-١` (isdigit; int() reads 1) or
    `mlcp-shard-²` (isdigit; int() raises): the first held shard 1 for a stranger, the second broke every step."""
    api, clock = FakeLeases(), Clock()
    for suffix in ("١", "²", "9" * 40):
        name = sharding.LEASE_PREFIX + suffix
        spec = {"holderIdentity": "mallory", "renewTime": "2027-01-01T00:00:00.000000Z", "leaseDurationSeconds": 3600}
        api._store(name, {"metadata": {"name": name}, "spec": spec})
    replicas = [_replica(api, clock, who) for who in "ab"]
    _tick(clock, replicas, rounds=4)
    assert sorted(_writers(replicas)) == list(range(SHARDS)), "a shard was left to the stranger"


class Cut:
    """One replica's way to the API server, on which its membership renewals and its LISTs time out (an
    overloaded server, a proxy that drops those requests) while its shard Leases still renew."""

    def __init__(self, api: FakeLeases, who: str) -> None:
        self.api = api
        self.member = member_lease(who)
        self.cut = False

    def request(self, method: str, path: str, query: Any = None, body: Any = None, **kw: Any) -> dict[str, Any]:
        if self.cut and ((path == COLLECTION and method == "GET") or path.endswith("/" + self.member)):
            raise HttpError(504, "the request timed out", {})
        return self.api.request(method, path, query, body, **kw)


def test_a_replica_whose_membership_lapsed_writes_no_shard_once_others_may_count_it_gone() -> None:
    """Replica old (2 shards) holds both, in a long pass; its membership Lease stops renewing and its LISTs fail,
    while its shard Leases renew. Replica new (3 shards, a rollout) counts old gone a lease duration later, so no
    number disagrees, and takes the shard nobody holds: its tenants are old's under old's mapping. Old must have
    stopped writing before then, as a leader stops at its renew deadline before anyone may take its Lease."""
    api, clock = FakeLeases(), Clock()
    cut = Cut(api, "old")
    lease = LeaseConfig("ns", "old", duration=15, renew_deadline=10, retry_period=2)
    old = ShardSet(cut, ShardConfig(2, lease), clock)  # type: ignore[arg-type]
    _tick(clock, [old], rounds=3)
    assert old.held() == [0, 1]
    cut.cut = True
    new = _replica(api, clock, "new", shards=3)
    tenants = [f"tenant-{i}" for i in range(30)]
    for _ in range(20):
        old.step()  # never between passes: what it gives up stays held until its pass ends
        new.step()
        for tenant in tenants:
            both = old.may_write(sharding.shard_of(tenant, 2)) and new.may_write(sharding.shard_of(tenant, 3))
            assert not both, f"{tenant} has two writers: old (2 shards) and new (3 shards)"
        clock.now += 2
    assert new.held() == [0, 1, 2] and not old.held(), "new took every shard (old renews none now); old writes none"


def _leading(api: FakeLeases, clock: Clock, shards: ShardSet) -> LeaderElector:
    """The replica's candidate for the leader's Lease, standing as reconciler.shardedloop wires it."""
    lease = replace(shards.config.lease, name=LEADER_LEASE)
    return LeaderElector(api, lease, clock, standing=shards.standing)  # type: ignore[arg-type]


def test_a_leader_whose_membership_lapsed_stops_renewing_the_leaders_lease_so_the_others_take_the_shards() -> None:
    """r1 leads; its membership renewals time out while the leader's Lease renews. r2 counts r1 gone, so the
    leader's Lease is held by a non-member for it: r2 takes and writes no shard, r1 writes none either (fenced by its
    membership), and no tenant was written until r1 died. r1 must neither renew nor take the leader's Lease while
    it is no member: r2 then leads and writes every shard; r1, a member again, leads again only as anyone would."""
    api, clock = FakeLeases(), Clock()
    cut = Cut(api, "r1")
    lease = LeaseConfig("ns", "r1", duration=15, renew_deadline=10, retry_period=2)
    first = ShardSet(cut, ShardConfig(2, lease), clock)  # type: ignore[arg-type]
    second = _replica(api, clock, "r2", shards=2)
    leaders = [_leading(api, clock, first), _leading(api, clock, second)]
    first.step()
    assert leaders[0].step() and not leaders[1].step()
    _tick(clock, [first, second], rounds=4)
    assert sorted(_writers([first, second])) == [0, 1]

    cut.cut = True
    for _ in range(30):
        first.step()
        first.release_leaving()
        second.step()
        second.release_leaving()
        leaders[0].step()
        leaders[1].step()
        assert not (leaders[0].may_write() and leaders[1].may_write()), "two leaders"
        clock.now += 2
    assert not leaders[0].may_write() and not first.held(), "the lapsed member writes nothing"
    assert leaders[1].may_write() and second.held() == [0, 1] and second.yielding is None, "r2 leads, writes all"

    cut.cut = False
    for _ in range(4):
        first.step()
        leaders[0].step()
        leaders[1].step()
        clock.now += 2
    assert first.standing() is None and not leaders[0].may_write(), "a member again, it waits for r2's Lease"


def test_a_clean_stop_releases_the_shards_together_not_one_after_another() -> None:
    api, clock = SlowLeases(expect=5, patience=1.0), Clock()
    a = _replica(api, clock, "a", shards=4)
    _tick(clock, [a], rounds=2)
    assert a.held() == [0, 1, 2, 3]
    api.slow, api.most = True, 0
    a.release_all()
    assert api.most >= 5, f"four shard Leases and the membership released together ({api.most} in flight at most)"
    assert all(not lease["spec"].get("holderIdentity") for lease in api.leases.values())


def test_a_late_membership_renewal_costs_the_leader_no_lease_one_a_duration_late_does() -> None:
    """A loaded machine renews the membership late (past its renew deadline: no shard is written meanwhile); the
    others count the member gone only after a lease duration, so until then the leader's Lease is renewed."""
    api, clock = FakeLeases(), Clock()
    shards = _replica(api, clock, "r1")
    leader = _leading(api, clock, shards)
    shards.step()
    assert leader.step()
    clock.now += 11
    assert not shards.member.may_write() and shards.standing() is None
    assert leader.step() and api.leases[LEADER_LEASE]["spec"]["renewTime"], "renewed"
    renewed = api.leases[LEADER_LEASE]["spec"]["renewTime"]
    clock.now += 5  # 16 s since the membership's last renewal: the others may count it gone
    assert shards.standing() is not None
    leader.step()
    assert api.leases[LEADER_LEASE]["spec"]["renewTime"] == renewed, "not renewed any more"
    clock.now += 6
    assert not leader.step() and not leader.may_write()
