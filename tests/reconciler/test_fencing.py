"""The fence around each backend and audit log: no write or append starts without the lease, each is bounded by its
time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from controlplane.audit import AuditError, AuditRecord, JsonlStore
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.deadline import Remaining
from reconciler.fencing import NOT_ATTEMPTED, Fence, FencedBackend, FencedStore, Unheld, was_attempted
from tests.controlplane.audit.conftest import make_record
from tests.reconciler.fakes import FakeBackend, change


def _fenced(leading: bool = True, stopping: bool = False) -> tuple[FakeBackend, FencedBackend, Fence]:
    inner = FakeBackend(notes=("a note",), meta={"auth": True})
    fence = Fence(leading=lambda: leading, remaining=lambda: 4.0)
    if stopping:
        fence.stopping.set()
    return inner, FencedBackend(inner, fence), fence


def test_a_write_without_the_lease_is_not_attempted_and_never_reaches_the_backend() -> None:
    inner, fenced, _ = _fenced(leading=False)
    outcome = fenced.apply(change("q"), ApplyOptions())
    assert (
        outcome.status is Status.skipped and outcome.message == NOT_ATTEMPTED + "this replica does not hold the lease"
    )
    assert not was_attempted(outcome)
    assert inner.calls == []


def test_shutting_down_stops_new_writes_even_while_leading() -> None:
    inner, fenced, _ = _fenced(stopping=True)
    outcome = fenced.apply(change("q"), ApplyOptions())
    assert outcome.message == NOT_ATTEMPTED + "the controller is shutting down" and inner.calls == []


def test_a_write_with_the_lease_runs_inside_the_fences_time_limit() -> None:
    inner, fenced, fence = _fenced()
    outcome = fenced.apply(change("q"), ApplyOptions())
    assert outcome.status is Status.applied and was_attempted(outcome)
    assert inner.calls == ["bounded", "apply q"]
    assert inner.remaining == [fence.remaining], "the backend's requests are cut to the lease's time left"


def test_the_inventory_is_never_written_without_the_lease() -> None:
    inner, fenced, _ = _fenced(leading=False)
    fenced.record_inventory(frozenset(), ApplyOptions())
    assert inner.calls == []
    inner, fenced, _ = _fenced()
    fenced.record_inventory(frozenset(), ApplyOptions())
    assert inner.calls == ["bounded", "record"]


def test_the_lease_is_asked_at_each_write_not_once() -> None:
    leading = threading.Event()
    leading.set()
    inner = FakeBackend()
    fenced = FencedBackend(inner, Fence(leading=leading.is_set))
    assert fenced.apply(change("a"), ApplyOptions()).status is Status.applied
    leading.clear()  # lost between two writes of one pass
    assert not was_attempted(fenced.apply(change("b"), ApplyOptions()))
    assert inner.calls == ["bounded", "apply a"]


def test_everything_but_writes_goes_straight_through() -> None:
    inner, fenced, _ = _fenced(leading=False)
    assert (fenced.system, fenced.order, fenced.target) == (inner.system, inner.order, inner.target)
    assert fenced.notes == ("a note",) and fenced.plan_meta == {"auth": True}
    fenced.read()
    [reviewed] = fenced.review([change("q")])
    fenced.forget()
    assert reviewed.reason == "reviewed by fake"
    assert inner.calls == ["read", "review q", "forget"], "reads and reviews need no lease"


class _Lease:
    """A lease's time left on a fake clock; `renew_after` waits (of the fence's polling) bring a renewal."""

    def __init__(self, left: float, renew_after: int | None) -> None:
        self.now, self.left, self.renew_after, self.waits = 0.0, left, renew_after, 0

    def clock(self) -> float:
        return self.now

    def remaining(self) -> float:
        return self.left


def _windowed(lease: _Lease) -> tuple[FakeBackend, FencedBackend]:
    inner = FakeBackend()
    stopping = threading.Event()
    fence = Fence(lambda: True, stopping, lease.remaining, window=2.5, patience=5.0, clock=lease.clock)

    def wait(_seconds: float | None = None) -> bool:  # the fence's poll: time passes, maybe a renewal lands
        lease.waits += 1
        lease.now += 0.1
        if lease.renew_after is not None and lease.waits >= lease.renew_after:
            lease.left = 9.5
        return False

    stopping.wait = wait  # type: ignore[method-assign]
    return inner, FencedBackend(inner, fence)


def test_a_write_with_too_little_lease_left_waits_for_the_renewal_then_runs() -> None:
    lease = _Lease(0.3, renew_after=3)
    inner, fenced = _windowed(lease)
    outcome = fenced.apply(change("q"), ApplyOptions())
    assert outcome.status is Status.applied and inner.calls == ["bounded", "apply q"]
    assert lease.waits == 3, "it started once the renewal left it its window, not with 0.3 s"


def test_a_write_whose_lease_is_not_renewed_in_time_is_not_attempted_never_cut_short() -> None:
    lease = _Lease(0.3, renew_after=None)
    inner, fenced = _windowed(lease)
    outcome = fenced.apply(change("q"), ApplyOptions())
    assert not was_attempted(outcome) and "less than the 2.5s a write needs" in outcome.message
    assert inner.calls == [], "never sent: the next pass picks it up, the tenant is not failed"
    assert lease.now >= 5.0 - 1e-9, "it waited its patience"


def test_without_a_window_a_write_starts_with_any_time_left() -> None:
    inner = FakeBackend()
    fenced = FencedBackend(inner, Fence(lambda: True, remaining=lambda: 0.3))
    assert fenced.apply(change("q"), ApplyOptions()).status is Status.applied


class _Log(JsonlStore):
    """A file log whose appends say the time limit they ran under (as the cluster store's requests take it)."""

    def __init__(self, path: Path, during: Callable[[], None] = lambda: None) -> None:
        super().__init__(path)
        self.limits: list[object] = []
        self.during = during

    @contextmanager
    def bounded(self, remaining: Remaining) -> Iterator[None]:
        self.limits.append(remaining)
        yield

    def append_many(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        self.during()
        return super().append_many(records)


def test_an_audit_append_without_the_lease_is_refused_and_never_reaches_the_log(tmp_path: Path) -> None:
    log = _Log(tmp_path / "audit.jsonl")
    leading = threading.Event()
    fence = Fence(leading=leading.is_set, remaining=lambda: 3.0)
    store = FencedStore(log, fence)
    with pytest.raises(Unheld, match="no longer holds the Lease") as caught:
        store.append(make_record(1))
    assert isinstance(caught.value, AuditError) and caught.value.hint
    assert not (tmp_path / "audit.jsonl").exists() and log.limits == []
    leading.set()
    fence.stopping.set()  # shutting down: the outcomes of writes made are still recorded
    assert store.append(make_record(1)).seq == 1
    assert log.limits == [fence.remaining], "the append's requests end within the lease's time"
    assert store.head() == log.head() and store.verify().ok and store.location == log.location


def test_an_audit_append_cut_short_as_the_lease_ended_is_unheld_and_any_other_failure_is_the_logs(
    tmp_path: Path,
) -> None:
    leading = threading.Event()
    leading.set()

    def ends() -> None:
        leading.clear()
        raise AuditError("cluster: cannot reach the audit log: timed out", "")

    with pytest.raises(Unheld, match="cut short"):
        FencedStore(_Log(tmp_path / "a.jsonl", ends), Fence(leading=leading.is_set)).append(make_record(1))
    leading.set()

    def fails() -> None:
        raise AuditError("cluster: cannot reach the audit log: timed out", "")

    with pytest.raises(AuditError) as caught:
        FencedStore(_Log(tmp_path / "b.jsonl", fails), Fence(leading=leading.is_set)).append(make_record(1))
    assert not isinstance(caught.value, Unheld)
