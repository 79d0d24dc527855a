"""Which shards this replica holds: a membership Lease per replica, a Lease per shard (`mlcp-shard-<i>`).

The protocol, run by every replica every retry period (`step`):

1. Renew its own membership Lease `mlcp-member-<digest of identity>`, annotated
   with the number of shards it was started with.
2. List the Leases (members and shards; reconciler.membership reads the
   listing, reconciler.shardview keeps what it said until the next): a Lease
   is live while its record keeps changing within its lease duration *as this
   replica observes it* (its own monotonic clock, as reconciler.leader does —
   never comparing wall clocks). A replica that stops cleanly releases its
   Leases, so it leaves at once.
3. Its fair share is between floor and ceiling of shards / live members
   (`sharding.fair_share`; what to keep and take: `sharding.divide`). Holding
   fewer than the ceiling, it tries to take free shards (released, expired, or
   never taken) in its rendezvous preference order,
   through the ordinary Lease protocol of reconciler.leader: a Lease held by another
   is taken only once that holder released it or its record stood still for the
   lease duration, and the old holder stopped writing at its renew deadline before
   that (the leader's fencing margin). So no tenant ever has two writers, and a
   replica that dies gives up its shards within one lease duration: they are the
   only ones that move.
4. Holding more than the ceiling while another member holds fewer than the floor
   (a replica joined), it hands over the shards it prefers least: renewed until
   the loop is between two passes of that shard, then released
   (`release_leaving`), so the newcomer takes them at once. Only those move.
5. A shard free for two lease durations (its preferred takers are stuck) is taken
   by any replica, over its share: no tenant waits for a balance that never comes.

`mlcp apply` writes any tenant under the leader's Lease (reconciler.applyturn
says how a CLI turn and a replica never write at once). A replica's side: it
reads the leader's Lease after every take and writes the shard only while no
one but a member holds that Lease (else it releases the shard unwritten); while
a non-member holds it, it takes and writes no shard (`yielding`); and it makes
`mlcp-shard-0`, unheld, before its first take.

Replicas started with different numbers of shards would map one tenant to two
shards held by two replicas. So each member states its number, and a replica
that sees another number among the live members holds and writes no shard
(`conflict`) until the disagreement is gone (e.g. a rollout that changes
`--shards` finishes). A member the others count as gone no longer states its
number to them, so a replica writes a shard only while its membership is
renewed as well (fenced by its renew deadline, as a shard is: `_cleared`).
Nor does it take or renew any Lease, the shards' and the leader's, once its
membership has gone unrenewed for a lease duration (`standing`): held by a
replica the others count gone, those Leases stalled the tenants until its
process died.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from reconciler import leases, logs, sharding
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.leader import LeaderElector
from reconciler.leases import LeaseConfig
from reconciler.membership import SHARDS_ANNOTATION, member_lease
from reconciler.shardview import ShardView

MERGE = "application/merge-patch+json"


@dataclass(frozen=True)
class ShardConfig:
    shards: int
    lease: LeaseConfig
    """Namespace, this replica's identity and the timings; its `name` is not used."""

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError("the number of shards must be at least 1")


class ShardSet:
    """This replica's shard Leases and membership, acting on its view of the others (see the module docstring)."""

    def __init__(
        self,
        kube: KubeClient,
        config: ShardConfig,
        clock: Callable[[], float] = time.monotonic,
        on_move: Callable[[int, bool], None] = lambda _shard, _held: None,
    ) -> None:
        self.kube = kube
        self.config = config
        self.clock = clock
        self.on_move = on_move
        """Called with (shard, True) when this replica starts holding a shard, (shard, False) when it stops."""
        self.identity = config.lease.identity
        self.member = LeaderElector(kube, replace(config.lease, name=member_lease(self.identity)), clock)
        self.view = ShardView(self.identity, config.shards, config.lease.namespace)
        """The members and the shards' holders as last read (reconciler.shardview)."""
        self._unconfirmed: set[int] = set()
        """Shards taken that no read of the leader's Lease has followed yet: not written (module docstring)."""
        self._leaving: set[int] = set()
        self._electors: dict[int, LeaderElector] = {}
        self._annotated = False
        self._duration = config.lease.duration
        self._lock = threading.Lock()
        self._standing: str | None = None
        """What `standing` said at the last step (logged when it changes)."""
        self._joined: float | None = None
        """When this replica first saw itself a member: it takes shards a retry period later, so replicas that
        start together divide the shards at once (the first up took all 8, and handed them over only between
        passes: minutes each at 10,000 tenants)."""

    # -- what the loop and the fence ask ---------------------------------------------------------------------

    @property
    def members(self) -> tuple[str, ...]:
        """The live members as last listed, this replica included while its membership is renewed."""
        return self.view.members

    @property
    def conflict(self) -> str | None:
        """Why this replica writes no shard now (members disagree on the number of shards), or None."""
        return self.view.conflict

    @property
    def yielding(self) -> str | None:
        """Why this replica takes and writes no shard now (the leader's Lease is held by a non-member), or None."""
        return self.view.yielding

    @property
    def leaving(self) -> frozenset[int]:
        """Shards held but assigned to another replica: released between two passes (`release_leaving`).

        A copy: the shards thread changes the set while the loop's thread looks at it (iterating the set itself
        could raise "Set changed size during iteration" in the loop)."""
        with self._lock:
            return frozenset(self._leaving)

    def held(self) -> list[int]:
        """The shards this replica may write now, in order."""
        with self._lock:
            shards = list(self._electors)
        return sorted(shard for shard in shards if self.may_write(shard))

    def may_write(self, shard: int) -> bool:
        elector = self._cleared(shard)
        return elector is not None and elector.may_write()

    def standing(self) -> str | None:
        """Why this replica must neither take nor renew a shard's Lease or the leader's now (reconciler.leader,
        "Standing"), or None: while its membership Lease has gone unrenewed for a lease duration, when the others
        may count it gone. (Its renew deadline already stops its shard writes; a renewal merely late, on a loaded
        machine, costs it no Lease.)

        The others count a member gone once its membership record stood still for a lease duration, and take and
        write no shard while a non-member holds the leader's Lease. A leader whose membership lapsed while it
        renewed the leader's Lease was a non-member to them, and no shard was written by anyone until it died; a
        replica whose membership lapsed (and whose LISTs failed, so it still counted itself in) kept renewing its
        shard Leases, which it may not write, and their tenants waited as long."""
        if self.member.renewed_within(self.config.lease.duration):
            return None
        return "this replica's membership Lease is not renewed: the other replicas count it gone"

    def _say_standing(self) -> None:
        """Log once each time `standing` changes (every Lease of this replica asks it: one line, not one each)."""
        standing = self.standing()
        if standing != self._standing:
            self._standing = standing
            if standing:
                logs.get().warning(f"neither taking nor renewing any Lease (shards, leader): {standing}")
            elif self._joined is not None:
                logs.get().info("the membership Lease is renewed again: Leases are taken and renewed again")

    def remaining(self, shard: int) -> float:
        """Seconds this replica may still write `shard` (0 when it may not): the shard's Lease and the membership
        both run out then (see `_cleared`)."""
        elector = self._cleared(shard)
        return min(elector.remaining(), self.member.remaining()) if elector is not None else 0.0

    def _cleared(self, shard: int) -> LeaderElector | None:
        """The shard's elector, while nothing but the time of its Lease and of the membership decides whether this
        replica may write it.

        The membership must be renewed too: the others count a replica whose membership record stood still for a
        lease duration as gone, and its number of shards with it. A replica whose membership renewals failed
        while its shard Leases renewed kept writing; one started with another number, seeing no disagreement,
        took the shards of that mapping, and a tenant had two writers. Fenced by its membership's renew deadline
        too, a replica stops before anyone may count it gone."""
        with self._lock:
            elector = self._electors.get(shard)
            confirmed = shard not in self._unconfirmed
        cleared = confirmed and self.conflict is None and self.yielding is None and self.member.may_write()
        return elector if cleared else None

    # -- the protocol ----------------------------------------------------------------------------------------

    def step(self) -> None:
        """One round: renew membership and the shards held, see the members and the shards' holders, give up
        or take shards.

        The Leases held are renewed first and at once (one request's latency, not one per shard after a LIST):
        renewed one after another behind the LIST, a replica holding four shards on an API server answering in
        a second renewed each only every 12 s, past its 10 s renew deadline, and its writes were cut short."""
        with self._lock:
            electors = dict(self._electors)
        renewed = {shard for shard, elector in electors.items() if elector.may_write()}
        leases.at_once([self.member.step, *(electors[shard].step for shard in renewed)])
        self._say_standing()
        try:
            self._annotate()
            self.view.look(self.kube, self.clock, self.member.may_write)
            if self._joined is None and self.identity in self.members:
                self._joined = self.clock()
            self._confirm(renewed)  # the LIST came after their renewal, and so after their take
        except BackendError as exc:
            logs.get().warning("could not read the members", extra={"error": str(exc)})
        if self.yielding is not None:
            return  # takes nothing; what it holds stays held (renewed above), unwritten until it ends
        held = {shard for shard, elector in electors.items() if elector.may_write()}
        late = {s for s in electors if s not in held and self.view.holders.get(s) == self.identity}
        keep, take = self._plan(held | late)
        with self._lock:
            for shard in take - set(self._electors):
                self._electors[shard] = self._elector(shard)
            electors = dict(self._electors)
        steps: dict[int, LeaderElector] = {}
        for shard, elector in electors.items():
            if shard in keep or shard in take:
                if shard not in renewed:
                    steps[shard] = elector
                with self._lock:
                    self._leaving.discard(shard)
            elif elector.may_write():  # renewed above: kept until the loop is between passes of it, then released
                with self._lock:
                    self._leaving.add(shard)
            else:
                self._drop(shard)
        if steps and self.view.mark(self.kube):
            with self._lock:
                self._unconfirmed |= set(steps)
            leases.at_once([elector.step for elector in steps.values()])
            taken = {shard for shard, elector in steps.items() if elector.may_write()}
            if taken:
                self._check_leader(taken)

    def _plan(self, held: set[int]) -> tuple[set[int], set[int]]:
        """(shards to keep, free shards to take): see "the protocol" in the module docstring.

        `held` includes the shards whose Lease still names this replica though its writing right lapsed (a
        renewal came late under load): they are renewed again, not dropped — dropping one let it expire and
        move to a replica already at its share, while this one fell below (3/4/1 became 4/3/1)."""
        if self.conflict is not None or self.identity not in self.members:
            return set(), set()
        if self._joined is None or self.clock() - self._joined < self.config.lease.retry_period:
            return set(held), set()  # just joined: let replicas started with it announce themselves first
        return sharding.divide(
            self.identity,
            self.members,
            self.config.shards,
            held,
            self.view.holders,
            self.view.free_since,
            self.clock(),
            2 * self._duration,
        )

    def _elector(self, shard: int) -> LeaderElector:
        config = replace(self.config.lease, name=sharding.lease_name(shard))

        def changed(leading: bool) -> None:
            logs.get().info("shard taken" if leading else "shard given up", extra={"shard": shard})
            self.on_move(shard, leading)

        elector = LeaderElector(self.kube, config, self.clock, on_change=changed, standing=self.standing)
        observed = self.view.sightings.seen.get(config.name)
        if observed is not None:
            elector.seen(*observed)  # watched in every LIST: a dead holder's time is already running out
        return elector

    def _drop(self, shard: int) -> None:
        with self._lock:
            self._electors.pop(shard, None)
            self._leaving.discard(shard)
            self._unconfirmed.discard(shard)

    def _check_leader(self, taken: set[int]) -> None:
        """Shards just taken are written only once a read of the leader's Lease after the take shows no writer
        but a replica there (see the module docstring); until then they stay unconfirmed."""
        if self.view.look_at_leader(self.kube, self.clock):
            self._confirm(taken)

    def _confirm(self, shards: set[int]) -> None:
        """After a read of the leader's Lease: `shards`, written to before it, may be written; or, while yielding,
        every shard never written is released."""
        if self.yielding is None:
            with self._lock:
                self._unconfirmed -= shards
            return
        with self._lock:
            unwritten = {shard: self._electors.pop(shard) for shard in self._unconfirmed if shard in self._electors}
            self._unconfirmed.clear()
        for elector in unwritten.values():
            elector.release()

    def _annotate(self) -> None:
        if self._annotated or not self.member.may_write():
            return
        patch = {"metadata": {"annotations": {SHARDS_ANNOTATION: str(self.config.shards)}}}
        self.kube.request("PATCH", self.member.path, body=patch, content_type=MERGE)
        self._annotated = True

    def release_leaving(self, shards: set[int] | None = None) -> list[int]:
        """Release the shards assigned elsewhere (all of them, or those of `shards`); the ones released."""
        released = []
        for shard in sorted(self.leaving if shards is None else self.leaving & shards):
            with self._lock:
                elector = self._electors.pop(shard, None)
                self._leaving.discard(shard)
            if elector is not None:
                elector.release()
                released.append(shard)
        return released

    def run(self, stop: threading.Event) -> None:
        """Step every retry period until `stop`; any error of a step is logged and the step tried again a period
        later (see `LeaderElector.run`: a thread that died held and took no shard again, unnoticed)."""
        while not stop.is_set():
            try:
                self.step()
            except Exception:
                logs.get().exception("shard lease round failed; trying again", extra={"identity": self.identity})
            stop.wait(self.config.lease.retry_period)

    def release_all(self) -> None:
        """Leave: give up every shard and the membership at once, so the others take over without waiting.

        The Leases are released together (one request's latency, as they are renewed): one after another, a
        replica holding eight shards on an API server answering in seconds was still releasing when the pod's
        grace period ended, and the shards left unreleased waited out their lease duration."""
        with self._lock:
            electors, self._electors = dict(self._electors), {}
            self._leaving.clear()
        leases.at_once([*(elector.release for elector in electors.values()), self.member.release])
