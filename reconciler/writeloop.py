"""The write loop of an apply: writes in flight while the audit log is written, in order, never ahead of it.

Writer threads take the next change whose gate is open (reconciler.apply_order: a namespace's objects wait for
its Namespace and lower ranks) and whose intent, and for a create its inventory record, is durable; they write
it and open the gates it closes, at most `concurrency` at once. The thread holding the audit log's turn writes
the intents in growing chunks while the first writes are in flight, then the outcomes in chunks, so the API
server never waits for the log and the log never lags a write: an error of the log stops the loop before any
further write starts. Apart from `applying`, which decides what is written and records the inventory after.
"""

from __future__ import annotations

import heapq
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from controlplane.plans import Change
from reconciler.apply_order import Gates, Schedule
from reconciler.backends.base import Outcome

FIRST_CHUNK = 32
"""Intents written before the first write: a few, so the API server gets work at once."""
CHUNK = 256
"""Intents (and outcomes) appended at a time while writes are in flight; the chunks of intents grow from
FIRST_CHUNK to this."""

Progress = Callable[[Outcome], None]


class Journal(Protocol):
    """Where apply records what it is about to do and what it did (controlplane.audit.Journal)."""

    def intend(self, changes: Sequence[Change], finished: Sequence[Outcome]) -> None:
        """Before their writes: changes to be written (in chunks, in write order), and (with the first chunk)
        the outcomes of those that will not be."""
        ...

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """After writes: their outcomes (in chunks, in the order they finished)."""
        ...


class Writes:
    """The write loop. Writer threads take the next change whose gate is open and whose intent (and, for a
    create, its inventory record) is durable, write it, and open the gates it closes, at most `concurrency` at
    once: they never wait for this thread. This thread (the one holding the audit log's turn) writes the
    intents in chunks (and records creates ahead: `ahead(end)`, reconciler.applyrecords.Ahead) while the first
    writes are in flight, then appends the outcomes in chunks. The first error of the audit log or of a record
    ahead stops it: no write starts after it, those in flight finish (their intents stay open for the next turn
    to close), and the error is raised."""

    def __init__(
        self,
        order: Schedule,
        run: Callable[[Change], Outcome],
        audit: Journal | None,
        ahead: Callable[[int], None],
        concurrency: int,
        progress: Progress | None,
    ) -> None:
        self.order, self.write, self.audit, self.ahead, self.progress = order, run, audit, ahead, progress
        self.concurrency = max(1, concurrency)
        self.gates = Gates(order)
        self.outcomes: list[Outcome | None] = [None] * len(order.changes)
        self.intended = min(FIRST_CHUNK, len(order.changes))
        """Changes (in order) whose intents (and records ahead) are durable: they may be written."""
        self.lock = threading.Lock()
        self.ready: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        """Changes whose gate is open and whose intent is written (None: a writer's signal to stop)."""
        self.waiting: list[int] = []
        """A heap of the changes whose gate is open but whose intent is not written yet."""
        self.done: queue.SimpleQueue[tuple[int, Outcome | BaseException]] = queue.SimpleQueue()
        self.stopped = False
        for i in self.gates.ready:
            self._opened(i)

    def _opened(self, index: int) -> None:
        """(With the lock held.)"""
        if index < self.intended:
            self.ready.put(index)
        else:
            heapq.heappush(self.waiting, index)

    def _writer(self) -> None:
        while True:
            index = self.ready.get()
            if index is None or self.stopped:
                return
            try:
                outcome: Outcome | BaseException = self.write(self.order.changes[index])
            except BaseException as exc:  # handed to the loop, which stops and raises it
                outcome = exc
            if isinstance(outcome, Outcome):
                with self.lock:
                    for opened in self.gates.done(index):
                        self._opened(opened)
            self.done.put((index, outcome))

    def run(self) -> None:
        total = len(self.outcomes)
        writers = [threading.Thread(target=self._writer, daemon=True) for _ in range(min(self.concurrency, total))]
        for writer in writers:
            writer.start()
        try:
            self._log_while_writing(total)
        except BaseException:
            self.stopped = True  # no write starts after this; those in flight finish (their intents are open)
            raise
        finally:
            for _ in writers:
                self.ready.put(None)
            for writer in writers:
                writer.join()

    def _log_while_writing(self, total: int) -> None:
        unrecorded: list[Outcome] = []
        finished = 0
        chunk = FIRST_CHUNK
        while finished < total:
            if self.intended < total:  # the next chunk of intents while the first writes are in flight
                chunk = min(chunk * 2, CHUNK)
                end = min(self.intended + chunk, total)
                if self.audit is not None:
                    self.audit.intend(self.order.changes[self.intended : end], [])
                self.ahead(end)
                with self.lock:
                    self.intended = end
                    while self.waiting and self.waiting[0] < end:
                        self.ready.put(heapq.heappop(self.waiting))
            elif self.audit is not None and len(unrecorded) >= CHUNK:  # after the last intents: one run of them
                self.audit.record(unrecorded)
                unrecorded = []
            else:
                self._take(self.done.get(), unrecorded)
                finished += 1
            while not self.done.empty():
                self._take(self.done.get(), unrecorded)
                finished += 1
        if self.audit is not None and unrecorded:
            self.audit.record(unrecorded)

    def _take(self, item: tuple[int, Outcome | BaseException], unrecorded: list[Outcome]) -> None:
        index, outcome = item
        if isinstance(outcome, BaseException):
            raise outcome
        self.outcomes[index] = outcome
        unrecorded.append(outcome)
        if self.progress:
            self.progress(outcome)
