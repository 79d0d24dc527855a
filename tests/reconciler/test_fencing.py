"""The fence around each backend: no write starts without the lease, every write is bounded by its time."""

from __future__ import annotations

import threading

from reconciler.backends.base import ApplyOptions, Status
from reconciler.fencing import NOT_ATTEMPTED, Fence, FencedBackend, was_attempted
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
