"""The single loop's scheduling: a handover asked for at any moment is served between passes, never lost."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any, cast

from reconciler.fencing import Fence
from reconciler.leader import LeaderElector
from reconciler.loop import Loop, LoopConfig
from reconciler.metrics import Metrics
from reconciler.passes import Reconciler
from reconciler.verdicts import PassResult


class _Elector:
    """The candidate's side the loop uses: it leads until it hands over."""

    def __init__(self) -> None:
        self.handover: str | None = None
        self.handed = threading.Event()
        self.config = SimpleNamespace(retry_period=0.01)
        self.on_change: Any = None
        self.on_trigger: Any = None
        self.on_handover: Any = None

    def may_write(self) -> bool:
        return not self.handed.is_set()

    def remaining(self) -> float:
        return 10.0

    def step(self) -> None: ...

    def run(self, stop: threading.Event) -> None:
        stop.wait()

    def release(self) -> None: ...

    def hand_over(self) -> bool:
        if self.handover is None:
            return False
        self.handover = None
        self.handed.set()
        return True


def test_a_handover_asked_for_just_before_a_pass_clears_the_wakeup_is_served_after_that_pass() -> None:
    elector = _Elector()
    passes: list[int] = []

    def run_pass(_lane: object = None) -> PassResult:
        if not passes:  # the request lands as the pass starts: its wakeup was already cleared by `_pass`
            elector.handover = "cli-apply"
        passes.append(1)
        return PassResult(revision="r")

    fence = Fence()
    reconciler = SimpleNamespace(
        fence=fence,
        observers=[],
        run_pass=run_pass,
        metrics=Metrics(),
        tracker=SimpleNamespace(next_retry=lambda now, covers=None: None),
    )
    reconciler.forget_state = lambda: None
    reconciler.close = lambda: None
    loop = Loop(cast(Reconciler, reconciler), LoopConfig(interval=3600.0), cast(LeaderElector, elector))
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        assert elector.handed.wait(5.0), "served after the pass, not after the hour's interval"
        assert passes == [1]
    finally:
        loop.stop()
        thread.join(timeout=5)


def test_a_new_leader_without_shards_writes_nothing_while_a_sharded_controllers_replica_holds_a_shard() -> None:
    """A rollout from sharded to unsharded: the old replicas write the shards they hold until they see this leader,
    so its term starts only once their shard Leases are gone (reconciler.applyturn.ShardWriters)."""
    elector = _Elector()
    passes: list[int] = []
    holders = [[("mlcp-shard-3", "old-replica")], [("mlcp-shard-3", "old-replica")], []]
    looked = threading.Event()

    def live() -> list[tuple[str, str]]:
        if len(holders) == 1:
            looked.set()
        return holders.pop(0) if len(holders) > 1 else holders[0]

    def run_pass(_lane: object = None) -> PassResult:
        assert not holders[0], "a pass ran while a replica of the sharded controller held a shard"
        passes.append(1)
        return PassResult(revision="r")

    reconciler = SimpleNamespace(
        fence=Fence(),
        observers=[],
        run_pass=run_pass,
        metrics=Metrics(),
        tracker=SimpleNamespace(next_retry=lambda now, covers=None: None),
        audit_problem=None,
    )
    reconciler.forget_state = lambda: None
    reconciler.close = lambda: None
    loop = Loop(
        cast(Reconciler, reconciler), LoopConfig(interval=3600.0), cast(LeaderElector, elector), shard_writers=live
    )
    loop._observed_lease = True
    ready, why = loop.ready()
    assert not ready and "not writing yet" in why
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        assert looked.wait(5.0)
        deadline = time.monotonic() + 5
        while not passes and time.monotonic() < deadline:
            time.sleep(0.01)
        assert passes == [1], "the term starts once the shards are released"
        assert loop.ready() == (True, "ok")
    finally:
        loop.stop()
        thread.join(timeout=5)
