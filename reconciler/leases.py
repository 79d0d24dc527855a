"""What a Lease says and when it is live as this process sees it: shared by every Lease protocol of mlcp.

The leader's election (reconciler.leader), the shard and membership Leases
(reconciler.shardleases), `mlcp apply`'s turn (reconciler.applyturn) and the
`mlcp shards` view (reconciler.shardstatus) read the same Leases in the same
namespace; what a Lease's record is, and when one stands still long enough to be
taken, is decided here once. A replica holding several Leases renews and releases
them together (`at_once`): one request's latency, not one per Lease.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
LEADER_LEASE = "mlcp-reconciler"
"""The leader's Lease in the controller namespace."""


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    identity: str
    name: str = LEADER_LEASE
    duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.duration:
            raise ValueError("lease timings must satisfy 0 < retry period < renew deadline < duration")


def lease_record(spec: dict[str, Any]) -> tuple[Any, ...]:
    """What must change for a Lease to count as renewed: holder, renew time, duration."""
    return (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseDurationSeconds"))


class LeaseSightings:
    """When this process first saw each Lease's current record. A Lease is live while its record keeps changing
    within its duration as observed here: another machine's clock (its renewTime) is never compared with ours."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[tuple[Any, ...], float]] = {}

    def live(self, name: str, spec: dict[str, Any], now: float) -> tuple[str | None, float]:
        """(the Lease's holder while it is live, else None; since when its current record has been seen)."""
        record = lease_record(spec)
        previous = self.seen.get(name)
        since = previous[1] if previous is not None and previous[0] == record else now
        self.seen[name] = (record, since)
        holder = spec.get("holderIdentity")
        live = bool(holder) and now < since + float(spec.get("leaseDurationSeconds") or 0)
        return (str(holder) if live else None), since

    def keep(self, names: set[str]) -> None:
        """Forget the Leases not in `names` (deleted since)."""
        for name in set(self.seen) - names:
            del self.seen[name]


def own_record(spec: dict[str, Any]) -> tuple[Any, ...]:
    """`lease_record` with the renew time as an instant, not as text: how a holder recognises a record it wrote
    (reconciler.leader), whichever way the API server spells its microseconds back."""
    holder, renewed, duration = lease_record(spec)
    try:
        instant: Any = datetime.fromisoformat(str(renewed).replace("Z", "+00:00"))
    except ValueError:
        instant = renewed
    try:
        seconds: Any = int(duration)
    except (TypeError, ValueError):
        seconds = duration
    return holder, instant, seconds


def at_once(steps: Sequence[Callable[[], object]]) -> None:
    """Run Lease steps concurrently (each its own Lease, its own request); an unexpected error propagates."""
    if len(steps) <= 1:
        for step in steps:
            step()
        return
    with ThreadPoolExecutor(max_workers=len(steps), thread_name_prefix="mlcp-lease-step") as pool:
        for _ in pool.map(lambda step: step(), steps):
            pass
