"""Exponential backoff with jitter, for the whole loop and for each tenant on its own.

A tenant whose spec is invalid, whose change is denied or whose apply fails is
held back for a while, longer after each consecutive failure (capped), so it
cannot eat every pass while the other tenants keep converging. Jitter keeps
many replicas or tenants that failed together from retrying together. A new
git revision ends every wait: the fix for a bad spec is a commit.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Delay after the n-th consecutive failure: base * factor^(n-1), capped, ± jitter."""

    base: float = 2.0
    factor: float = 2.0
    cap: float = 300.0
    jitter: float = 0.2
    """Fraction of the delay added or removed at random."""

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        if failures <= 0:
            return 0.0
        raw = min(self.cap, self.base * self.factor ** min(failures - 1, 64))
        spread = raw * self.jitter * (2 * rand() - 1)
        return max(0.0, min(self.cap, raw + spread))


@dataclass
class Health:
    """Consecutive failures of one tenant (or of the loop itself), and when to try again."""

    failures: int = 0
    not_before: float = 0.0
    reason: str = ""
    revision: str | None = None
    """The git revision that failed; a different revision is retried at once."""


@dataclass
class Tracker:
    """Failure state per key (a tenant, or "" for objects of no tenant)."""

    policy: Backoff = field(default_factory=Backoff)
    entries: dict[str, Health] = field(default_factory=dict)

    def failed(self, key: str, reason: str, revision: str | None, now: float) -> float:
        """Record a failure; returns the delay before `key` is tried again."""
        health = self.entries.setdefault(key, Health())
        health.failures += 1
        health.reason = reason
        health.revision = revision
        delay = self.policy.delay(health.failures)
        health.not_before = now + delay
        return delay

    def succeeded(self, key: str) -> bool:
        """Forget `key`'s failures; True when it had any (it recovered)."""
        return self.entries.pop(key, None) is not None

    def held(self, revision: str | None, now: float) -> dict[str, str]:
        """Keys still waiting at `revision`: key → why. A new revision releases everyone."""
        return {
            key: f"backing off after {h.failures} failure(s) (retry in {h.not_before - now:.0f}s): {h.reason}"
            for key, h in self.entries.items()
            if h.not_before > now and h.revision == revision
        }

    def next_retry(self, now: float, covers: Callable[[str], bool] = lambda _key: True) -> float | None:
        """When the earliest key of `covers` still waiting at `now` may be tried again (monotonic time), or None.

        A wait already over is no reason to hurry: the pass that ran since retried that key, and one that did
        not (its tenant is gone) would otherwise wake the loop every few milliseconds for good."""
        return min((h.not_before for k, h in self.entries.items() if h.not_before > now and covers(k)), default=None)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop `keys`' failures without calling it recovery: their tenants no longer exist."""
        for key in keys:
            self.entries.pop(key, None)
