"""The sharded loop with a fake reconciler and in-memory Leases: which lanes run, in what order, and when a shard
is handed over (between two passes of it, never during one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controlplane.audit import JsonlStore
from reconciler import sharding
from reconciler.backoff import Health, Tracker
from reconciler.fencing import Fence, Unheld
from reconciler.lane import Lane
from reconciler.leader import LeaderElector
from reconciler.leases import LeaseConfig
from reconciler.loop import LoopConfig
from reconciler.metrics import Metrics
from reconciler.passaudit import PassAudit
from reconciler.shardedloop import PLATFORM, ShardedLoop
from reconciler.shardleases import ShardConfig, ShardSet
from reconciler.verdicts import PassResult
from tests.controlplane.audit.conftest import make_record
from tests.reconciler.test_shardleases import Clock, FakeLeases

SHARDS = 4


@dataclass
class FakeSettings:
    identity: str = "a"


@dataclass
class FakeReconciler:
    """What the sharded loop uses of a Reconciler; records each lane's pass and what the replica held during it."""

    shards: ShardSet | None = None
    metrics: Metrics = field(default_factory=Metrics)
    fence: Fence = field(default_factory=Fence)
    settings: FakeSettings = field(default_factory=FakeSettings)
    tracker: Tracker = field(default_factory=Tracker)
    observers: list[Any] = field(default_factory=list)
    passes: list[tuple[str, bool]] = field(default_factory=list)
    forgotten: int = 0
    lanes_forgotten: list[str] = field(default_factory=list)
    records_forgotten: int = 0
    holds: Any = None
    held_during: list[set[str]] = field(default_factory=list)
    """The tenants `holds` accepted during each pass (what the watch cache keeps)."""

    def __post_init__(self) -> None:
        self.pass_audit = PassAudit(JsonlStore.__new__(JsonlStore), self.metrics, "a")

    def run_pass(self, lane: Lane) -> PassResult:
        held = lane.name == PLATFORM or (self.shards is not None and self.shards.may_write(int(lane.name)))
        self.passes.append((lane.name, held and lane.fence.leading()))
        self.held_during.append({t for t in self.tenants() if self.holds is not None and self.holds(t)})
        return PassResult()

    def tenants(self) -> set[str]:
        return {f"team-{i}" for i in range(20)}

    def forget_state(self) -> None:
        self.forgotten += 1

    def forget_records(self) -> None:
        self.records_forgotten += 1

    def forget_lane(self, name: str) -> None:
        self.lanes_forgotten.append(name)

    def close(self) -> None:
        pass


def _loop(api: FakeLeases, clock: Clock, who: str) -> tuple[ShardedLoop, FakeReconciler]:
    lease = LeaseConfig("ns", who, duration=15, renew_deadline=10, retry_period=2)
    shards = ShardSet(api, ShardConfig(SHARDS, lease), clock)  # type: ignore[arg-type]
    elector = LeaderElector(api, lease, clock)  # type: ignore[arg-type]
    rec = FakeReconciler(shards)
    loop = ShardedLoop(
        rec, LoopConfig(interval=30), shards, elector, lambda _chain: JsonlStore.__new__(JsonlStore), clock
    )  # type: ignore[arg-type]
    return loop, rec


def _join(loop: ShardedLoop, clock: Clock) -> None:
    """A replica starts: it joins, leads (a member first, as `ShardedLoop.run` starts), and takes shards a retry
    period later."""
    loop.shards.step()
    loop.elector.step()
    clock.now += 2
    loop.shards.step()


def test_the_platform_lane_runs_first_then_each_shard_held_each_new_lane_after_reading_state_again() -> None:
    api, clock = FakeLeases(), Clock()
    loop, rec = _loop(api, clock, "a")
    _join(loop, clock)
    loop._round()
    assert rec.passes == [(PLATFORM, True), *((str(s), True) for s in range(SHARDS))]
    assert rec.forgotten >= 1, "a lane just won starts by reading the inventory and revisions again"
    assert rec.metrics.shards_held._value.get() == SHARDS
    assert rec.metrics.shard_tenants.labels("0")._value.get() > 0
    assert rec.metrics.queue_depth._value.get() == 0
    rec.passes.clear()
    loop._round()
    assert rec.passes == [], "nothing due before the interval"


def test_a_shard_given_to_a_newcomer_is_released_between_passes_never_during_one_and_the_newcomer_takes_it() -> None:
    api, clock = FakeLeases(), Clock()
    a, rec_a = _loop(api, clock, "a")
    _join(a, clock)
    a._round()
    b, rec_b = _loop(api, clock, "b")
    b.shards.step()
    clock.now += 2  # b takes shards a retry period after it joined
    a.shards.step()
    leaving = set(a.shards.leaving)
    assert len(leaving) == SHARDS // 2
    a.wake.set()
    a._round()
    assert all(held for _, held in rec_a.passes), "no pass ran on a shard already given away"
    assert not a.shards.leaving and set(a.shards.held()) == set(range(SHARDS)) - leaving
    b.shards.step()
    assert set(b.shards.held()) == leaving
    b._round()
    assert {name for name, _ in rec_b.passes} == {str(s) for s in leaving}
    assert rec_b.records_forgotten == 1 and rec_b.forgotten == 0, "shards taken: the inventory read again, no relist"
    of = {t: sharding.shard_of(t, SHARDS) for t in rec_b.tenants()}
    assert rec_b.held_during[-1] == {t for t, s in of.items() if s in leaving}, "b keeps live state of its shards'"
    a.wake.set()
    a._round()
    assert rec_a.held_during[-1] == {t for t, s in of.items() if s not in leaving}, "a no longer keeps b's"
    assert rec_a.lanes_forgotten and set(rec_a.lanes_forgotten) == {str(s) for s in leaving}
    assert rec_a.metrics.shard_moves.labels("given")._value.get() == len(leaving)


def test_a_lane_comes_back_when_its_own_failed_tenant_may_be_retried_not_anothers() -> None:
    api, clock = FakeLeases(), Clock()
    loop, rec = _loop(api, clock, "a")
    _join(loop, clock)
    loop._round()
    failed = "team-3"
    ours = str(sharding.shard_of(failed, SHARDS))
    rec.tracker.entries[failed] = Health(failures=1, not_before=clock.now + 2.0)
    delays = {name: loop._delay(due, PassResult()) for name, due in loop._lanes.items()}
    assert delays[ours] == 2.0, "retried when its backoff ends"
    assert all(d == 30 for name, d in delays.items() if name != ours), delays


def test_readiness_reads_the_lanes_while_the_loop_drops_one() -> None:
    """/readyz (the HTTP server's thread) iterated the lanes while the loop's thread dropped a lost shard's lane:
    "dictionary changed size during iteration"."""
    api, clock = FakeLeases(), Clock()
    loop, _ = _loop(api, clock, "a")
    _join(loop, clock)
    loop._round()
    assert len(loop._lanes) == SHARDS + 1

    class Looked:
        """A lane's audit whose problem is read just as the loop's thread loses shard 3 and drops its lane."""

        @property
        def problem(self) -> str | None:
            loop.shards.release_all()
            loop._refresh()
            return None

    loop._lanes["0"].lane.audit = Looked()  # type: ignore[assignment]
    loop._observed = True
    ready, why = loop.ready()  # answered, no "dictionary changed size during iteration"
    assert not ready and "membership Lease is not renewed" in why, "it left: its membership was released too"
    assert set(loop._lanes) == {PLATFORM}, "the shards' lanes were dropped meanwhile"


def test_a_shard_lanes_audit_chain_takes_records_only_while_the_shard_is_held(tmp_path: Path) -> None:
    """A lane's appends pass its own fence (reconciler.fencing, "An audit append is a write too"): a replica that
    lost the shard's Lease mid-turn appended its outcomes among the next holder's records."""
    api, clock = FakeLeases(), Clock()
    loop, _ = _loop(api, clock, "a")
    loop.chain_store = lambda chain: JsonlStore(tmp_path / f"{chain}.jsonl")
    lane = loop._shard_lane(0)
    assert not loop.shards.may_write(0)
    with pytest.raises(Unheld, match="no longer holds the Lease"):
        lane.audit.store.append(make_record(1))
    assert not (tmp_path / "shard-0.jsonl").exists()
    _join(loop, clock)
    assert loop.shards.may_write(0) and lane.audit.store.append(make_record(1)).seq == 1


def test_a_replica_whose_membership_is_not_renewed_is_not_ready_and_says_why() -> None:
    api, clock = FakeLeases(), Clock()
    loop, _ = _loop(api, clock, "a")
    _join(loop, clock)
    loop._observed = True
    assert loop.ready() == (True, "ok")
    clock.now += 11  # past the membership's renew deadline: it writes no shard, but may count as a member still
    assert loop.ready() == (True, "ok")
    clock.now += 5  # a lease duration without a renewal: the others may count it gone
    ready, why = loop.ready()
    assert not ready and "membership Lease is not renewed" in why
