"""What a replica knows of the others between two rounds of its shard protocol (reconciler.shardleases).

Every round reads the controller namespace's Leases (a LIST; after a take, the leader's Lease too), and this
is what the reads leave behind: the live members, each shard's live holder and since when a free shard has
been free, whether the members disagree on the number of shards (`conflict`) and whether a non-member holds
the leader's Lease (`yielding`). It is kept apart from the Leases the replica holds (the protocol acts on it,
with `sharding.divide` as the rule of what to keep and take) so that what was seen and what is done about it
are read in two places. Liveness is as this replica observes it (reconciler.leases' `LeaseSightings`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from reconciler import logs, membership, sharding
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.leases import LEADER_LEASE, LEASES, LeaseSightings


class ShardView:
    """The members and the shards' holders as this replica last read them (see the module docstring)."""

    def __init__(self, identity: str, shards: int, namespace: str) -> None:
        self.identity = identity
        self.shards = shards
        self.namespace = namespace
        self.members: tuple[str, ...] = ()
        self.conflict: str | None = None
        """Why this replica writes no shard now (members disagree on the number of shards), or None."""
        self.yielding: str | None = None
        """Why this replica takes and writes no shard now (the leader's Lease is held by a non-member), or None."""
        self.holders: dict[int, str | None] = {}
        """Shard → its live holder as last listed (None: released, expired or never taken)."""
        self.free_since: dict[int, float] = {}
        self.sightings = LeaseSightings()
        self.marked = False
        """Whether the Lease mlcp-shard-0 exists (reconciler.shardleases' module docstring)."""

    def look(self, kube: KubeClient, clock: Callable[[], float], member: Callable[[], bool]) -> None:
        """Read the live members (this replica included while `member()`, its membership renewed), and any
        disagreement.

        A record not seen before is dated when the LIST was answered, not when it was sent: a renewal that landed
        while a slow LIST was in flight counted as older than it was, and its shard was taken too early."""
        listing = kube.request("GET", LEASES.format(namespace=self.namespace))
        now = clock()
        alive = {self.identity} if member() else set()
        roster = membership.read(listing, self.sightings, now, self.shards)
        for shard, holder, since in roster.shards:
            self._see_shard(shard, holder, since, now)
        alive |= roster.members
        for shard in range(self.shards):
            if sharding.lease_name(shard) not in roster.seen:  # never made yet: free since we first looked
                self.holders[shard] = None
                self.free_since.setdefault(shard, now)
        self.marked = sharding.lease_name(0) in roster.seen
        self._judge(roster.numbers)
        self._yield_to(roster.leader, alive)
        self.members = tuple(sorted(alive))

    def look_at_leader(self, kube: KubeClient, clock: Callable[[], float]) -> bool:
        """Read the leader's Lease: whether this replica yields to its holder. False when it could not be read."""
        try:
            lease = kube.request("GET", LEASES.format(namespace=self.namespace) + f"/{LEADER_LEASE}")
        except BackendError as exc:
            if not isinstance(exc, HttpError) or exc.status != 404:
                logs.get().warning("could not read the leader's Lease", extra={"error": str(exc)})
                return False
            lease = {}
        holder, _ = self.sightings.live(LEADER_LEASE, lease.get("spec") or {}, clock())
        self._yield_to(holder, set(self.members))
        return True

    def mark(self, kube: KubeClient) -> bool:
        """Make the Lease mlcp-shard-0, unheld, before any shard is taken (reconciler.shardleases' module
        docstring); whether it exists now."""
        if not self.marked:
            meta = {"name": sharding.lease_name(0), "namespace": self.namespace}
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": {}}
            try:
                kube.request("POST", LEASES.format(namespace=self.namespace), body=body)
            except BackendError as exc:
                if not isinstance(exc, HttpError) or exc.status != 409:
                    logs.get().warning("could not make the Lease of shard 0; no shard taken", extra={"error": str(exc)})
                    return False
            self.marked = True
        return True

    def _see_shard(self, shard: int, holder: str | None, since: float, now: float) -> None:
        self.holders[shard] = holder
        if holder is not None:
            self.free_since.pop(shard, None)
        else:
            self.free_since.setdefault(shard, min(since, now))

    def _judge(self, numbers: Mapping[str, str]) -> None:
        conflict = membership.disagreement(self.shards, numbers)
        if conflict != self.conflict:
            (logs.get().error if conflict else logs.get().info)(conflict or "replicas agree on the number of shards")
        self.conflict = conflict

    def _yield_to(self, holder: str | None, members: set[str]) -> None:
        yielding = membership.outsider(holder, self.identity, members)
        if yielding != self.yielding:
            (logs.get().warning if yielding else logs.get().info)(
                yielding or "the leader's Lease is no longer held by a non-member"
            )
        self.yielding = yielding
