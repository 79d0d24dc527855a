"""Lease-based leader election against an in-memory API: acquisition, renewal, takeover, fencing, release."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from reconciler.backends.kubernetes import HttpError
from reconciler.leader import HANDED_KEPT, HANDOVER_ANNOTATION, LeaderElector
from reconciler.leases import LeaseConfig
from reconciler.leasetrigger import TRIGGER_ANNOTATION


class FakeLeases:
    """Just enough of the API server for Leases: GET, POST, PUT with resourceVersion checks, merge PATCH."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.down = False
        self.forbidden = False
        self.shard_zero: dict[str, Any] | None = None
        """Lease mlcp-shard-0, held while a sharded controller runs."""
        self.reading: list[Callable[[], None]] = []
        """Run, one for each GET, while it is in flight: the world moves before the server answers."""
        self.writing: list[Callable[[], None]] = []
        """Run, one for each PUT, while it is in flight, before the server stores it."""
        self.written: list[Callable[[], None]] = []
        """Run, one for each PUT, after the server stored it, before the writer hears back."""

    def request(self, method: str, path: str, query: Any = None, body: Any = None, **_: Any) -> dict[str, Any]:
        if method == "GET" and self.reading:
            self.reading.pop(0)()
        if self.down:
            raise HttpError(503, "unavailable", {})
        if self.forbidden and method != "GET":
            raise HttpError(403, "Forbidden", {"message": "leases is forbidden: User cannot create"})
        if path.endswith("/mlcp-shard-0"):
            if self.shard_zero is None:
                raise HttpError(404, "not found", {})
            return copy.deepcopy(self.shard_zero)
        if method == "GET":
            if self.lease is None:
                raise HttpError(404, "not found", {})
            return copy.deepcopy(self.lease)
        if method == "POST":
            if self.lease is not None:
                raise HttpError(409, "exists", {})
            return self._store(body)
        if method == "PUT":
            if self.writing:
                self.writing.pop(0)()
            assert self.lease is not None
            if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
                raise HttpError(409, "conflict", {})
            stored = self._store(body)
            if self.written:
                self.written.pop(0)()
            return stored
        if method == "PATCH":
            assert self.lease is not None
            notes = self.lease["metadata"].setdefault("annotations", {})
            notes.update(body["metadata"]["annotations"])
            return self._store(self.lease)
        raise AssertionError(method)

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Contended:
    """A lock that tells (`waited`) when a thread had to wait for it: proof that two threads' work did not
    interleave, without sleeping to let a race happen."""

    def __init__(self, waited: threading.Event) -> None:
        self._lock = threading.Lock()
        self.waited = waited

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.waited.set()
            self._lock.acquire()

    def __exit__(self, *_: object) -> None:
        self._lock.release()


def _pair() -> tuple[FakeLeases, Clock, LeaderElector, LeaderElector]:
    api, clock = FakeLeases(), Clock()
    a = LeaderElector(api, LeaseConfig("ns", "a", duration=15, renew_deadline=10, retry_period=2), clock)  # type: ignore[arg-type]
    b = LeaderElector(api, LeaseConfig("ns", "b", duration=15, renew_deadline=10, retry_period=2), clock)  # type: ignore[arg-type]
    return api, clock, a, b


def test_first_candidate_acquires_and_the_second_waits() -> None:
    api, clock, a, b = _pair()
    assert a.step() and a.may_write()
    assert not b.step() and not b.may_write()
    assert api.lease is not None and api.lease["spec"]["holderIdentity"] == "a"
    clock.now += 2
    assert a.step() and not b.step()


def test_a_dead_leader_is_replaced_only_after_the_lease_duration_and_it_stopped_writing_before() -> None:
    api, clock, a, b = _pair()
    a.step()
    b.step()  # b observes a's record now
    renewed_at = clock.now
    clock.now += 10  # a is dead: no more renewals
    assert not a.may_write(), "past the renew deadline the old leader refuses to write"
    assert not b.step(), "still inside the lease duration as b observed it"
    clock.now = renewed_at + 15.1
    assert b.step() and b.may_write()
    assert api.lease is not None and api.lease["spec"]["leaseTransitions"] == 1
    assert not a.step(), "the old leader, back, sees b's fresh record and waits"


def test_a_record_is_dated_when_the_read_was_answered_not_when_it_was_sent() -> None:
    """A renewal that landed while a candidate's slow GET was in flight was dated before it happened: the candidate
    took the Lease while the holder, renewed during that GET, could still write."""
    api, clock, holder, candidate = _pair()
    holder.step()
    candidate.step()

    def slow() -> None:  # sent at 1002, answered at 1009; the holder renewed at 1008 and may write until 1018
        clock.now = 1008.0
        assert holder.step()
        clock.now = 1009.0

    clock.now = 1002.0
    api.reading.append(slow)
    assert not candidate.step()
    clock.now = 1017.5
    assert holder.may_write()
    assert not candidate.step(), "the record stood still 8.5 s since it was seen, not 15.5 s"
    clock.now = 1009.0 + 15.1
    assert not holder.may_write() and candidate.step()


def test_the_time_left_to_write_is_the_renew_deadline_since_the_last_renewal_and_none_after_release() -> None:
    api, clock, a, b = _pair()
    assert a.remaining() == 0.0, "not leading: no time to write"
    a.step()
    clock.now += 4
    assert a.remaining() == 6.0 and b.remaining() == 0.0
    api.down = True
    a.step()  # a failed renewal does not extend it
    clock.now += 7
    assert a.remaining() == 0.0 and not a.may_write()
    api.down = False
    a.step()
    assert a.remaining() == 10.0
    a.release()
    assert a.remaining() == 0.0


def test_renewal_failures_lose_leadership_at_the_deadline() -> None:
    api, clock, a, _ = _pair()
    changes: list[bool] = []
    a.on_change = changes.append
    a.step()
    api.down = True
    clock.now += 5
    assert a.step(), "a failed renewal inside the deadline keeps the lease"
    clock.now += 6
    assert not a.step() and changes == [True, False]


def test_release_lets_the_next_candidate_take_over_at_once() -> None:
    api, _clock, a, b = _pair()
    a.step()
    b.step()
    a.release()
    assert not a.may_write()
    assert api.lease is not None and api.lease["spec"]["holderIdentity"] is None
    assert b.step()


def test_a_trigger_from_a_follower_reaches_the_leader() -> None:
    api, clock, a, b = _pair()
    fired: list[bool] = []
    a.on_trigger = lambda: fired.append(True)
    a.step()
    b.step()
    b.trigger()
    assert api.lease is not None and TRIGGER_ANNOTATION in api.lease["metadata"]["annotations"]
    clock.now += 2
    assert a.step() and fired == [True]


def test_a_late_held_trigger_is_the_only_request_sent_for_its_period() -> None:
    """A held request's timer ran late (a loaded machine) and a delivery arrived after the period had passed: both
    sent a PATCH, back to back, and a flood of deliveries could exceed one PATCH per period per follower."""
    api, clock, a, b = _pair()
    a.step()
    b.step()
    sent: list[str] = []
    forward = api.request

    def counting(method: str, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        sent.append(method)
        return forward(method, path, *args, **kwargs)

    api.request = counting  # type: ignore[method-assign]
    b.trigger()
    clock.now += 1.5  # within the period: held, sent by a timer in 0.5 s (real time)
    b.trigger()
    clock.now += 5  # the period is long over, and the timer has not run yet
    b.trigger()
    time.sleep(1.0)  # the timer runs
    assert sent.count("PATCH") == 2, sent


def test_the_leader_hands_the_lease_to_a_cli_apply_between_passes_and_takes_it_back_after() -> None:
    api, clock, leader, cli = _pair()
    asked: list[bool] = []
    leader.on_handover = lambda: asked.append(True)
    leader.step()
    assert not cli.step() and cli.ask_handover()
    clock.now += 2
    assert leader.step() and asked == [True] and leader.handover == "b", "asked, still leading until it hands over"
    assert leader.hand_over() and not leader.may_write(), "it stops writing before the Lease names the CLI"
    assert cli.step() and cli.may_write()
    clock.now += 2
    assert not leader.step() and leader.handover is None, "the served request is not served again"
    cli.release()
    assert api.lease is not None and HANDOVER_ANNOTATION not in api.lease["metadata"]["annotations"]
    assert leader.step(), "released: the leader takes it back at once"


def test_a_handover_waits_for_the_renewal_in_flight_and_the_old_leader_stays_stopped() -> None:
    """The loop's thread handed the Lease over while the lease thread's renewal was in flight: the renewal, ending
    after the handover, made the old leader writable again while the Lease named the CLI (two writers)."""
    api, clock, leader, cli = _pair()
    leader.step()
    assert not cli.step() and cli.ask_handover()
    clock.now += 2
    stored, go, either, handed = threading.Event(), threading.Event(), threading.Event(), threading.Event()
    leader._lock = Contended(either)  # type: ignore[assignment]
    api.written.append(lambda: (stored.set(), go.wait(10)))  # the renewal is stored; its answer is on its way
    renewal = threading.Thread(target=leader.step)  # the lease thread: it sees the CLI's request
    renewal.start()
    assert stored.wait(10) and leader.handover == "b"

    def hand_over() -> None:  # the loop's thread, woken by the request
        leader.hand_over()
        handed.set()
        either.set()

    handing = threading.Thread(target=hand_over)
    handing.start()
    assert either.wait(10)
    during = handed.is_set()
    go.set()
    renewal.join(10)
    handing.join(10)
    assert api.lease is not None and api.lease["spec"]["holderIdentity"] == "b"
    assert cli.step() and cli.may_write(), "the CLI holds its turn"
    assert not leader.may_write(), f"two writers: the old leader may still write for {leader.remaining():.1f}s"
    assert not during, "the handover ran in the middle of the renewal"


def test_a_handover_whose_write_lost_a_race_is_served_on_the_next_round() -> None:
    """The asker was taken for served before the handover's write: when that write failed (the Lease changed
    since its read: a follower forwarded a webhook), the request was never served and the CLI gave up."""
    api, clock, leader, cli = _pair()
    follower = LeaderElector(api, LeaseConfig("ns", "c", duration=15, renew_deadline=10, retry_period=2), clock)  # type: ignore[arg-type]
    leader.step()
    assert not cli.step() and cli.ask_handover()
    clock.now += 2
    assert leader.step() and leader.handover == "b"
    api.writing.append(follower.trigger)
    assert not leader.hand_over() and not leader.may_write()
    clock.now += 2
    assert leader.step() and leader.handover == "b", "the request is still on the Lease: asked again"
    assert leader.hand_over() and cli.step()


def test_a_released_candidate_never_takes_the_lease_again() -> None:
    """A round that started after the release (ShardSet.step renews a shard on its thread while the loop releases
    it between passes) took the Lease back for a candidate nobody runs: nobody renewed it, and nobody could take
    it for a lease duration."""
    api, clock, a, b = _pair()
    a.step()
    b.step()
    a.release()
    clock.now += 2
    assert not a.step() and not a.may_write()
    assert api.lease is not None and api.lease["spec"]["holderIdentity"] is None
    assert b.step(), "released: taken at once"


def test_a_leader_remembers_only_the_last_applies_it_served() -> None:
    """Each `mlcp apply` asks under an identity of its own: one remembered per apply was a leak for the life of the
    process. A served request still on the Lease (its CLI died) is not served again."""
    api, clock, leader, _ = _pair()
    leader.step()
    for n in range(HANDED_KEPT + 3):
        cli = LeaderElector(api, LeaseConfig("ns", f"cli-{n}", duration=15, renew_deadline=10, retry_period=2), clock)  # type: ignore[arg-type]
        assert not cli.step() and cli.ask_handover()
        clock.now += 2
        assert leader.step() and leader.hand_over() and cli.step()
        if n % 2:
            cli.release()  # the others die: the Lease runs out with their request on it
        clock.now += 2
        leader.step()
        clock.now += 16
        assert leader.step()
        clock.now += 2
        assert leader.step() and leader.handover is None, "served once, never again"
    assert len(leader._handed) == HANDED_KEPT


def test_a_request_nobody_served_is_withdrawn_and_a_follower_never_hands_over() -> None:
    api, clock, leader, cli = _pair()
    leader.step()
    cli.step()
    cli.ask_handover()
    cli.withdraw()
    assert api.lease is not None and api.lease["metadata"]["annotations"][HANDOVER_ANNOTATION] is None
    clock.now += 2
    assert leader.step() and leader.handover is None
    cli.ask_handover()
    assert not cli.hand_over(), "only the holder can hand the Lease over"


def test_timings_are_checked() -> None:
    with pytest.raises(ValueError, match="renew deadline"):
        LeaseConfig("ns", "a", duration=10, renew_deadline=10, retry_period=2)


@contextmanager
def captured_logs() -> Iterator[list[logging.LogRecord]]:
    """The controller's log records meanwhile (its logger does not propagate once set up)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("mlcp.reconcile")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def test_the_lease_thread_survives_any_error_of_a_round_and_tries_again_a_period_later() -> None:
    """A proxy's HTML 503 page made the client raise a ValueError: the thread died, and the replica never led."""
    api, clock, stop = FakeLeases(), Clock(), threading.Event()
    elector = LeaderElector(api, LeaseConfig("ns", "a", duration=1.5, renew_deadline=1.0, retry_period=0.01), clock)  # type: ignore[arg-type]
    answer = api.request
    sent: list[str] = []

    def request(method: str, path: str, *args: Any, **kw: Any) -> dict[str, Any]:
        sent.append(method)
        if len(sent) == 1:
            raise ValueError("unexpected character: line 1 column 1 (char 0)")
        stop.set()  # the second round is the last
        return answer(method, path, *args, **kw)

    api.request = request  # type: ignore[method-assign]
    with captured_logs() as logged:
        elector.run(stop)
    assert sent == ["GET", "GET", "POST"] and elector.may_write(), "the next round took the Lease"
    assert [r.getMessage() for r in logged if r.exc_info] == ["lease round failed; trying again"]


def _counting(api: FakeLeases, method: str) -> list[str]:
    """The paths of the `method` requests sent to `api` from now on."""
    sent: list[str] = []
    request = api.request

    def counted(method_: str, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if method_ == method:
            sent.append(path)
        return request(method_, path, *args, **kwargs)

    api.request = counted  # type: ignore[method-assign]
    return sent


def test_forwarded_webhooks_landing_in_every_renewal_do_not_cost_the_leader_its_lease() -> None:
    """Anyone who can send deliveries (an MLflow user moving their own model's alias) makes a follower PATCH the
    leader's Lease; one landing between each renewal's read and write failed it with 409, and the leader stopped
    writing at its renew deadline though nothing was wrong with it."""
    api, clock, leader, follower = _pair()
    assert leader.step() and not follower.step()
    for _ in range(8):  # 16 s of retry periods: past the renew deadline and the Lease's duration
        clock.now += 2
        api.writing.append(follower.trigger)
        assert leader.step() and leader.may_write()
    assert api.lease is not None and api.lease["spec"]["holderIdentity"] == "a"


def test_a_renewal_whose_lease_someone_else_renewed_meanwhile_is_not_made_again() -> None:
    """Only a change of the metadata is written over: a write that changed the spec (another holder) wins."""
    api, clock, leader, _ = _pair()
    assert leader.step()
    clock.now += 2

    def taken() -> None:
        assert api.lease is not None
        api._store({**api.lease, "spec": {**api.lease["spec"], "holderIdentity": "z", "renewTime": "later"}})

    api.writing.append(taken)
    leader.step()
    assert api.lease is not None and api.lease["spec"]["holderIdentity"] == "z"
    clock.now += 9
    assert not leader.may_write(), "the leader wrote over the other holder's Lease"


def test_a_release_that_meets_a_forwarded_webhook_still_frees_the_lease() -> None:
    api, _clock, leader, follower = _pair()
    assert leader.step() and not follower.step()
    api.writing.append(follower.trigger)
    leader.release()
    assert api.lease is not None and api.lease["spec"]["holderIdentity"] is None
    assert follower.step(), "released: taken at once, not after the Lease's duration"


def test_a_burst_of_deliveries_is_one_patch_now_and_one_at_the_end_of_the_retry_period() -> None:
    """A flood of deliveries at one follower sends at most one PATCH per retry period, and the last delivery's
    request is not lost: it is sent when the period is over (its pass reads everything pushed before it)."""
    api = FakeLeases()
    config = LeaseConfig("ns", "b", duration=3, renew_deadline=2, retry_period=0.3)
    leader = LeaderElector(api, LeaseConfig("ns", "a", duration=3, renew_deadline=2, retry_period=0.3))  # type: ignore[arg-type]
    follower = LeaderElector(api, config)  # type: ignore[arg-type]
    fired = threading.Event()
    leader.on_trigger = fired.set
    assert leader.step()
    patches = _counting(api, "PATCH")
    for _ in range(200):
        follower.trigger()
    assert len(patches) == 1
    first = api.lease["metadata"]["annotations"][TRIGGER_ANNOTATION] if api.lease else None
    assert leader.step() and fired.is_set()
    fired.clear()
    deadline = time.monotonic() + 5
    while len(patches) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(patches) == 2, "the deliveries held back were never forwarded"
    assert api.lease is not None and api.lease["metadata"]["annotations"][TRIGGER_ANNOTATION] != first
    assert leader.step() and fired.is_set(), "the leader did not see the request held back"
    time.sleep(0.5)
    assert len(patches) == 2, "a request was sent twice"


def _twins() -> tuple[FakeLeases, Clock, LeaderElector, LeaderElector]:
    """Two processes started with the same `--identity` (a fixed value in a Deployment of several replicas)."""
    api, clock = FakeLeases(), Clock()
    config = LeaseConfig("ns", "mlcp", duration=15, renew_deadline=10, retry_period=2)
    first = LeaderElector(api, config, clock)  # type: ignore[arg-type]
    second = LeaderElector(api, config, clock)  # type: ignore[arg-type]
    return api, clock, first, second


def test_a_second_process_with_the_same_identity_does_not_lead_beside_the_first() -> None:
    """The Lease names the identity, so the second process took the first's renewals for its own and renewed the
    Lease too: two leaders writing at once for as long as both ran."""
    _, clock, first, second = _twins()
    with captured_logs() as records:
        for _ in range(20):
            assert first.step()
            second.step()
            assert not (first.may_write() and second.may_write()), "two writers under one identity"
            clock.now += 2
    assert first.may_write() and not second.may_write()
    assert second.holder == "mlcp"
    said = [r.getMessage() for r in records if "this process did not write" in r.getMessage()]
    assert len(said) == 1 and "--identity" in said[0], said


def test_a_process_with_the_same_identity_takes_over_only_as_anyone_would() -> None:
    """A process started again under its old identity (a container restarted in its pod, a StatefulSet's pod
    made again) cannot tell whether the Lease's writer is gone: it waits for the record to stand still, as for
    any other holder, and the old one stopped writing at its renew deadline before that."""
    _, clock, first, second = _twins()
    assert first.step()
    assert not second.step(), "taken at once: the old process may still be writing"
    died = clock.now
    while not second.step():
        assert not first.may_write() or clock.now - died < 10
        clock.now += 2
    assert clock.now - died >= 15 and not first.may_write()


def test_a_renewal_whose_answer_was_lost_is_still_this_processs_own() -> None:
    """The PUT landed, its answer did not: the next round reads the record this process wrote, and renews it."""
    api, clock, a, _ = _pair()
    assert a.step()
    clock.now += 2

    def lost() -> None:
        raise HttpError(504, "the answer was lost", {})

    api.written.append(lost)
    a.step()
    clock.now += 2
    assert a.step() and a.may_write()


def test_a_process_with_the_same_identity_does_not_release_the_others_lease() -> None:
    api, _, first, second = _twins()
    assert first.step()
    second.step()
    second.release()
    assert api.lease is not None and api.lease["spec"]["holderIdentity"] == "mlcp", "the other's Lease kept"
