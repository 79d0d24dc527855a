"""The loop of one replica among several (`mlcp reconcile --shards N`): a lane per shard it holds, and the platform.

Tenants are divided into N shards by rendezvous hashing (reconciler.sharding);
replicas divide the shards among themselves with a Lease per shard
(reconciler.shardleases). Each replica runs, in turn, a pass of every lane it
may write:

- a shard's lane: the tenants of that shard, fenced by the shard's Lease, audited
  in the shard's own chain (reconciler.auditstore), their inventory entries and
  revisions merged into the shared records without touching other shards';
- the platform lane, while this replica holds the leader's Lease: objects of no
  tenant (the deployer ClusterRole), the governance objects and the trusted base's
  record, in the main chain — what one replica alone must keep.

A shard this replica has just taken gets a fresh lane: its first pass reads
the inventory and revisions again and converges every tenant of the shard, as
a new leader does. After that, a lane's pass plans only the tenants of its
shard that changed since its own last pass (reconciler.lanememory). A shard assigned to another replica (one joined) is
released between two passes of its lane, never during one. On SIGTERM the pass
in flight finishes its current writes, then every Lease is released at once so
the other replicas take over without waiting a lease duration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from controlplane.audit import AuditStore
from reconciler import logs, sharding
from reconciler.fencing import Fence, FencedStore
from reconciler.lane import Lane
from reconciler.leader import LeaderElector
from reconciler.loop import LoopConfig, LoopControls
from reconciler.passaudit import PassAudit
from reconciler.passes import Reconciler
from reconciler.shardleases import ShardSet
from reconciler.verdicts import PassResult

PLATFORM = "platform"


@dataclass
class _Due:
    lane: Lane
    at: float
    failures: int = 0


class ShardedLoop(LoopControls):
    """Runs the lanes this replica holds until stopped (see the module docstring)."""

    def __init__(
        self,
        reconciler: Reconciler,
        config: LoopConfig,
        shards: ShardSet,
        elector: LeaderElector,
        chain_store: Callable[[str], AuditStore],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(reconciler, config, clock)
        self.shards = shards
        self.elector = elector
        self.chain_store = chain_store
        """The audit store of a chain (`shard-<i>`)."""
        self.passes = 0
        self.last: dict[str, PassResult] = {}
        self._lanes: dict[str, _Due] = {}
        self._lanes_lock = threading.Lock()
        """Held while the loop's thread adds or drops lanes, and while `ready` (the HTTP server's thread) copies
        them: iterating the dict as it changed could raise "dictionary changed size during iteration"."""
        self._threads_stop = threading.Event()
        self._observed = False
        self._held: frozenset[int] = frozenset()
        metrics = reconciler.metrics
        fence = reconciler.fence
        fence.leading, fence.remaining = elector.may_write, elector.remaining
        fence.window, fence.patience = _window(elector.config.renew_deadline)
        elector.on_change = self._leadership
        elector.on_trigger = self.wake.set
        elector.standing = shards.standing  # a leader the others no longer count as a member stalls every shard
        shards.on_move = self._moved
        self._platform = Lane(reconciler.pass_audit, fence, covers=lambda key: not key, platform=True, name=PLATFORM)
        metrics.shards_held.set(0)

    # -- used by the HTTP server and signal handlers ---------------------------------------------------------

    def request_pass(self) -> None:
        """A webhook arrived: run this replica's lanes now, and tell the others through the leader's Lease."""
        self.wake.set()
        self.elector.trigger()

    def ready(self) -> tuple[bool, str]:
        if not self._observed:
            return False, "the leases have not been read yet"
        with self._lanes_lock:
            lanes = [d.lane for d in self._lanes.values()]
        problems = [lane.audit.problem for lane in lanes if lane.audit.problem]
        if problems:
            return False, f"the audit log cannot be written, so nothing is applied: {problems[0]}"
        if self.shards.conflict:
            return False, self.shards.conflict
        standing = self.shards.standing()  # a replica the others count gone holds and writes nothing
        if standing:
            return False, standing
        return True, "ok"

    # -- leases ----------------------------------------------------------------------------------------------

    def _leadership(self, leading: bool) -> None:
        self.reconciler.metrics.leader.set(1 if leading else 0)
        self.wake.set()

    def _moved(self, shard: int, held: bool) -> None:
        self.reconciler.metrics.shard_moves.labels("taken" if held else "given").inc()
        self.wake.set()

    def _shard_lane(self, shard: int) -> Lane:
        chain = f"shard-{shard}"
        reconciler = self.reconciler
        fence = Fence(lambda: self.shards.may_write(shard), self.stopping, lambda: self.shards.remaining(shard))
        fence.window, fence.patience = _window(self.shards.config.lease.renew_deadline)
        store = FencedStore(self.chain_store(chain), fence)  # appended only while the shard's Lease is held
        audit = PassAudit(store, reconciler.metrics, reconciler.settings.identity, chain)
        count = self.shards.config.shards
        return Lane(audit, fence, lambda key: sharding.shard_of(key or None, count) == shard, False, str(shard))

    def _refresh(self) -> None:
        """Lanes for what this replica may write now: new ones due at once (a full pass), lost ones dropped."""
        wanted = {str(s): s for s in self.shards.held()}
        if self.elector.may_write():
            wanted[PLATFORM] = sharding.PLATFORM
        gone = set(self._lanes) - set(wanted)
        for name in gone:
            with self._lanes_lock:
                del self._lanes[name]
            self.reconciler.forget_lane(name)
            if name != PLATFORM:
                self.reconciler.metrics.shard_tenants.remove(name)
        self._hold({s for s in wanted.values() if s != sharding.PLATFORM})
        new = [name for name in wanted if name not in self._lanes]
        if PLATFORM in new:
            self.reconciler.forget_state()  # a new term as leader: read everything again, as the single loop does
        elif new:
            self.reconciler.forget_records()  # the previous holder wrote the inventory: read it again (not a relist)
        for name in new:
            shard = wanted[name]
            lane = self._platform if shard == sharding.PLATFORM else self._shard_lane(shard)
            if shard == sharding.PLATFORM:
                lane.state = None
                lane.audit.forget()
            with self._lanes_lock:
                self._lanes[name] = _Due(lane, self.clock())
            logs.get().info("converging a new lane", extra={"shard": name})
        self.reconciler.metrics.shards_held.set(len(wanted) - (1 if PLATFORM in wanted else 0))

    def _hold(self, shards: set[int]) -> None:
        """The tenants whose live state this replica keeps: those of the shards it holds (each backend's cache
        drops the others' objects, and lists a shard's before a pass reads them: kubernetes_scope)."""
        held = frozenset(shards)
        if self.reconciler.holds is not None and self._held == held:
            return
        self._held = held
        self.reconciler.holds = _holder(held, self.shards.config.shards)

    # -- the loop --------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; the process exit code (0)."""
        threads = self._start()
        try:
            while not self.stopping.is_set():
                self._beat()
                self._round()
                self._sleep(self._next() - self.clock())
            return 0
        finally:
            self._threads_stop.set()
            for thread in threads:
                thread.join(timeout=10)
            self.shards.release_all()
            self.elector.release()
            self.reconciler.close()
            logs.get().info("stopped", extra={"passes": self.passes})

    def _start(self) -> list[threading.Thread]:
        self.shards.step()  # a member first: the others take and write no shard while a non-member leads
        self.elector.step()
        self._observed = True
        threads = [
            threading.Thread(target=self.elector.run, args=(self._threads_stop,), name="mlcp-lease", daemon=True),
            threading.Thread(target=self.shards.run, args=(self._threads_stop,), name="mlcp-shards", daemon=True),
        ]
        for thread in threads:
            thread.start()
        return threads

    def _round(self) -> None:
        """Passes of the lanes that are due (all of them after a wake-up), platform first, then release what was
        given away. Lanes are looked at again before each pass: leadership or a shard won meanwhile runs next."""
        woken = self.wake.is_set()
        self.wake.clear()
        done: set[str] = set()
        while not self.stopping.is_set():
            self.shards.release_leaving()  # between passes: a shard given away is not first run again here
            self._refresh()
            now = self.clock()
            due = sorted((n for n, d in self._lanes.items() if n not in done and (woken or d.at <= now)), key=_order)
            self.reconciler.metrics.queue_depth.set(len(due))
            if not due:
                break
            name = due[0]
            done.add(name)
            entry = self._lanes[name]
            if not entry.lane.fence.leading():
                continue
            if name != PLATFORM:
                covered = sum(1 for t in self.reconciler.tenants() if entry.lane.covers(t))
                self.reconciler.metrics.shard_tenants.labels(name).set(covered)
            result = self.reconciler.run_pass(entry.lane)
            self.passes += 1
            self.last[name] = result
            entry.at = self.clock() + self._delay(entry, result)
            if name != PLATFORM:
                self.shards.release_leaving({int(name)})
        self.shards.release_leaving({s for s in self.shards.leaving if str(s) not in self._lanes})

    def _delay(self, entry: _Due, result: PassResult) -> float:
        if result.error:
            entry.failures += 1
            return self.config.backoff.delay(entry.failures)
        entry.failures = 0
        now = self.clock()
        # this lane's failed tenants are retried when their backoff ends, not others'
        retry = self.reconciler.tracker.next_retry(now, entry.lane.covers)
        delay = self.config.interval
        if retry is not None:
            delay = min(delay, max(0.05, retry - now))
        return delay

    def _next(self) -> float:
        """When the next lane is due (a retry period from now at the latest, to pick up new shards)."""
        soonest = min((d.at for d in self._lanes.values()), default=self.clock() + self.config.interval)
        return min(soonest, self.clock() + self.shards.config.lease.retry_period)

    def _sleep(self, seconds: float) -> None:
        self.wake.wait(timeout=max(0.0, seconds))


def _holder(held: frozenset[int], count: int) -> Callable[[str], bool]:
    """Whether a tenant is in one of the `held` shards, remembered per tenant (a scope asks for every tenant)."""
    known: dict[str, bool] = {}

    def holds(tenant: str) -> bool:
        found = known.get(tenant)
        if found is None:
            found = known[tenant] = sharding.shard_of(tenant, count) in held
        return found

    return holds


def _order(name: str) -> tuple[int, int]:
    """The platform first (the ClusterRole tenants' deployers need), then shards by number."""
    return (0, 0) if name == PLATFORM else (1, int(name))


def _window(renew_deadline: float) -> tuple[float, float]:
    """(the lease time a write needs to start, how long it waits for a renewal that leaves it): a quarter and
    half of the renew deadline (2.5 s and 5 s with the default 15 s lease), see reconciler.fencing."""
    return renew_deadline / 4, renew_deadline / 2
