"""A per-thread time limit on a backend's requests: what keeps a deposed leader from writing past its lease.

The fence (reconciler.fencing) decides whether a change may *start*. A change
that starts with two seconds of lease left is several requests (an alias move
re-reads the alias, moves it, reads it back and tags who moved it), each with
timeouts and retries that, left alone, could run for minutes — long after
another replica took the Lease and started writing. So while a fenced backend
applies a change, every request of that thread asks `Deadline.timeouts` first:
none starts once the lease's time is up, each one's connect and read timeouts
are cut to the time left, and retries never wait past it. The margin the Lease
keeps between the end of a holder's writing right and the earliest takeover
(duration − renew deadline, see reconciler.leader) covers the last request in
flight.

Threads apply changes concurrently, so the limit is thread-local; outside a
fenced apply (planning, reading, the lease itself) there is none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol, runtime_checkable

from reconciler.backends.base import BackendError

Remaining = Callable[[], float | None]
"""Seconds this replica may still write (the lease's time left); None: no limit."""

MINIMUM = 0.05
"""A request with less time than this left is not sent: it could not finish anyway."""


class DeadlineExceeded(BackendError):
    """A request was not sent because the lease has no time left for it (a failure, never retried)."""


@runtime_checkable
class Bounded(Protocol):
    """A backend whose requests can be limited to the time a fence has left."""

    def bounded(self, remaining: Remaining) -> AbstractContextManager[None]: ...


class Deadline:
    """The time limit of the current thread's requests, set for the duration of a `bounded` block."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def bounded(self, remaining: Remaining) -> Iterator[None]:
        previous = getattr(self._local, "remaining", None)
        self._local.remaining = remaining
        try:
            yield
        finally:
            self._local.remaining = previous

    def left(self) -> float | None:
        """Seconds left for this thread's requests; None outside a bounded block (or when unbounded)."""
        remaining: Remaining | None = getattr(self._local, "remaining", None)
        return remaining() if remaining is not None else None

    def expired(self) -> bool:
        """True inside a bounded block whose time is up: no request may start any more."""
        left = self.left()
        return left is not None and left < MINIMUM

    def timeouts(self, what: str, connect: float, read: float) -> tuple[float, float]:
        """The (connect, read) timeouts for the request `what`, cut to the time left; raises when none is."""
        left = self.left()
        if left is None:
            return connect, read
        if left < MINIMUM:  # as `expired`, on the value that sets the timeouts
            raise DeadlineExceeded(
                f"{what} was not sent: this replica's lease leaves no time for it (another replica may be "
                "writing now); the next pass will pick the change up"
            )
        return min(connect, left), min(read, left)

    def wait(self, seconds: float) -> float:
        """`seconds` of backoff, cut so that a retry never starts after the time is up."""
        left = self.left()
        return seconds if left is None else max(0.0, min(seconds, left))


def bounded(backend: object, remaining: Remaining) -> AbstractContextManager[None]:
    """`backend.bounded(remaining)` when the backend supports it, else a block without a limit."""
    if isinstance(backend, Bounded):
        return backend.bounded(remaining)
    return nullcontext()
