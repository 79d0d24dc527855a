"""The reconcile loop: when to run a pass, who may run it, and how to stop.

A pass runs every `interval`, at once when a webhook asks (or another replica
forwards one), and sooner when a backed-off tenant's wait ends. Only the
Lease holder runs passes; the others keep renewing their view and serve
metrics. Failures of the whole pass (git unreachable, API server down, a
broken mlcp.yaml) back off exponentially and never end the process: a
controller that crash-loops serves no metrics and tells nobody anything.
A controller without `--shards` that becomes the leader writes nothing while
replicas of a sharded controller still hold shards (a rollout from sharded to
unsharded: reconciler.applyturn). SIGTERM lets the pass in flight finish its current writes, skips the rest,
writes their audit records and the state, releases the Lease, and returns 0.
An `mlcp apply` that asks for the Lease gets it between two passes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler import logs
from reconciler.backends.base import BackendError, Outcome
from reconciler.backoff import Backoff
from reconciler.leader import LeaderElector
from reconciler.passes import Reconciler
from reconciler.verdicts import PassResult

NOT_LEADER_EXIT = 3
NOT_LOOKED = "the shard Leases of a sharded controller have not been looked at yet"


@dataclass(frozen=True)
class LoopConfig:
    interval: float = 30.0
    once: bool = False
    backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, cap=300.0))
    """Backoff of whole-pass failures (git, API server); tenants back off by the Reconciler's own tracker."""


def progressing(stalled: float, interval: float) -> tuple[bool, str]:
    """Liveness of a loop whose last progress was `stalled` seconds ago: healthy until 5 intervals (at least 5 min)."""
    limit = max(5 * interval, 300.0)
    return (stalled < limit, f"no progress for {stalled:.0f}s" if stalled >= limit else "ok")


class LoopControls:
    """What every loop (this one, the sharded one) gives the HTTP server and the signal handlers: how to stop it,
    how to wake it, and whether it is alive (it made progress, an outcome or a pass, lately)."""

    def __init__(self, reconciler: Reconciler, config: LoopConfig, clock: Callable[[], float]) -> None:
        self.reconciler = reconciler
        self.config = config
        self.clock = clock
        self.wake = threading.Event()
        self.stopping = reconciler.fence.stopping
        self.heartbeat = clock()
        reconciler.observers.append(self._beat)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def healthy(self) -> tuple[bool, str]:
        return progressing(self.clock() - self.heartbeat, self.config.interval)

    def _beat(self, _outcome: Outcome | None = None) -> None:
        self.heartbeat = self.clock()


class Loop(LoopControls):
    def __init__(
        self,
        reconciler: Reconciler,
        config: LoopConfig,
        elector: LeaderElector | None = None,
        clock: Callable[[], float] = time.monotonic,
        shard_writers: Callable[[], list[tuple[str, str]]] | None = None,
    ) -> None:
        super().__init__(reconciler, config, clock)
        self.elector = elector
        self.shard_writers = shard_writers
        """The live shard Leases of a sharded controller here, (Lease, holder) (reconciler.applyturn.ShardWriters):
        a new term writes nothing while there is one. None: not looked at (no leader election)."""
        self._sharded: str | None = NOT_LOOKED if shard_writers is not None else None
        """Why this term writes nothing yet (replicas of a sharded controller may still write), or None."""
        self._term = 0
        self.last: PassResult | None = None
        self.passes = 0
        self._failures = 0
        self._new_term = True
        self._observed_lease = elector is None
        self._elector_stop = threading.Event()
        if elector is not None:
            reconciler.fence.leading = elector.may_write
            reconciler.fence.remaining = elector.remaining
            elector.on_change = self._leadership
            elector.on_trigger = self.wake.set
            elector.on_handover = self.wake.set

    # -- used by the HTTP server and signal handlers ---------------------------------------------------------

    def request_pass(self) -> None:
        """A webhook arrived: run a pass now, or ask the leader to."""
        if self.elector is None or self.elector.may_write():
            self.wake.set()
        else:
            self.elector.trigger()

    def ready(self) -> tuple[bool, str]:
        if not self._observed_lease:
            return False, "the lease has not been read yet"
        if self._sharded and self.elector is not None and self.elector.may_write():
            return False, f"leading, but not writing yet: {self._sharded}"
        if self.reconciler.audit_problem:
            return False, f"the audit log cannot be written, so nothing is applied: {self.reconciler.audit_problem}"
        return True, "ok"

    # -- the loop --------------------------------------------------------------------------------------------

    def _leadership(self, leading: bool) -> None:
        self.reconciler.metrics.leader.set(1 if leading else 0)
        if leading:
            self._new_term = True
            self._term += 1
            self._sharded = NOT_LOOKED if self.shard_writers is not None else None
            self.wake.set()

    def run(self) -> int:
        """Run until stopped (or one pass with `once`); the process exit code."""
        thread = self._start_election()
        try:
            if self.config.once:
                return self._once()
            while not self.stopping.is_set():
                self._beat()
                if self.elector is not None and self.elector.handover:
                    self.elector.hand_over()  # a CLI apply's turn; between passes only
                if self.elector is not None and (not self.elector.may_write() or self._waiting_for_shards()):
                    self._sleep(self.elector.config.retry_period)
                    continue
                result = self._pass()
                self._sleep(self._delay(result))
            return 0
        finally:
            self._elector_stop.set()
            if thread is not None:
                thread.join(timeout=10)
            if self.elector is not None:
                self.elector.release()
            self.reconciler.close()
            logs.get().info("stopped", extra={"passes": self.passes})

    def _start_election(self) -> threading.Thread | None:
        if self.elector is None:
            return None
        self.elector.step()
        self._observed_lease = True
        thread = threading.Thread(target=self.elector.run, args=(self._elector_stop,), name="mlcp-lease", daemon=True)
        thread.start()
        return thread

    def _once(self) -> int:
        if self.elector is not None:
            deadline = self.clock() + self.elector.config.duration + self.elector.config.retry_period
            while not self._may_run_once() and self.clock() < deadline and not self.stopping.is_set():
                self._sleep(self.elector.config.retry_period)
            if not self.elector.may_write():
                logs.get().error("another replica holds the lease", extra={"holder": self.elector.holder})
                return NOT_LEADER_EXIT
            if self._sharded:
                logs.get().error(f"not writing: {self._sharded}")
                return NOT_LEADER_EXIT
        result = self._pass()
        return 0 if result.converged else 1

    def _may_run_once(self) -> bool:
        return self.elector is not None and self.elector.may_write() and not self._waiting_for_shards()

    def _waiting_for_shards(self) -> bool:
        """Whether this term must not write yet: replicas of a sharded controller (a rollout from sharded to
        unsharded) write the shards they hold until they see this leader. Looked at until none is live, once per
        term (a replica that takes a shard later sees this leader and does not write it; reconciler.applyturn)."""
        if self._sharded is None or self.shard_writers is None:
            return False
        term = self._term  # a new term that starts while looking must look again
        try:
            live = self.shard_writers()
        except BackendError as exc:
            why = f"whether replicas of a sharded controller still write here cannot be told: {exc}"
        else:
            if not live and term == self._term:
                if self._sharded != NOT_LOOKED:
                    logs.get().info("no replica of a sharded controller holds a shard any more; writing")
                self._sharded = None
                return False
            if not live:
                return True
            name, holder = live[0]
            why = (
                f"{len(live)} shard Lease(s) held by replicas of a sharded controller (Lease {name} by {holder!r}); "
                "this controller runs without --shards and writes once they are released or run out"
            )
        if why != self._sharded:
            logs.get().warning(f"leading, but not writing yet: {why}")
        self._sharded = why
        return True

    def _pass(self) -> PassResult:
        if self._new_term:
            self.reconciler.forget_state()
            self._new_term = False
        self.wake.clear()
        result = self.reconciler.run_pass()
        self.passes += 1
        self.last = result
        return result

    def _delay(self, result: PassResult) -> float:
        if result.error:
            self._failures += 1
            delay = self.config.backoff.delay(self._failures)
            logs.get().warning("retrying the pass with backoff", extra={"seconds": round(delay, 2)})
            return delay
        self._failures = 0
        delay = self.config.interval
        now = self.clock()
        retry = self.reconciler.tracker.next_retry(now)
        if retry is not None:
            delay = min(delay, max(0.05, retry - now))
        return delay

    def _sleep(self, seconds: float) -> None:
        # A handover asked for just before a pass cleared `wake` (its request set it, `_pass` cleared it) would
        # otherwise wait out the whole interval, and `mlcp apply` gives up after TURN_TIMEOUT: the pending
        # request itself, not only the event, says whether to sleep.
        if self.elector is not None and self.elector.handover:
            return
        self.wake.wait(timeout=max(0.0, seconds))
