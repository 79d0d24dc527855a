"""`mlcp apply`'s turn on the leader's Lease: asked of the leader, renewed while the CLI applies, released after.

The shared audit log has one writer at a time, and that writer holds the
Lease `mlcp-reconciler` (reconciler.leader): the loop between its passes, or
one `mlcp apply`. The CLI annotates the Lease with its identity, the leader
hands it over between two passes, and takes it back once the CLI releases it.

A controller run with `--shards` writes tenants under shard Leases, not this
one, so its replicas and a CLI turn must never write at once. Each side
announces itself before it looks at the other, so one of them always sees the
other (reconciler.shardleases does the replicas' side):

- the CLI takes the leader's Lease, then looks at the shard Leases: one with a
  holder ends the turn before anything was written ("runs sharded"). It looks
  again after every renewal while it applies, and stops writing if one appears;
- a replica takes a shard, then reads the leader's Lease, and writes the shard
  only if nothing but a replica holds that Lease; it takes no shard while it
  sees anything else there.

The CLI was refused only while `mlcp-shard-0` was held, once, before it asked:
a replica that started during the apply took shards and wrote the tenants the
apply was writing, and shard 0 is free for a moment whenever it moves.

A replica makes `mlcp-shard-0` (unheld) before it takes any shard, so while
that Lease does not exist no shard has a holder: one GET tells. Once it exists,
the CLI lists the Leases (`list` on Leases in the controller namespace).

A controller run without `--shards` is the same kind of writer (it holds the
leader's Lease and writes every tenant), but the replicas it replaces in a
rollout from sharded to unsharded see it only at their next round, and write
the shards they hold until then. So at the start of each term it writes
nothing while a shard Lease is live (`ShardWriters`): held and renewed as
observed here, so a replica killed without leaving stops counting one lease
duration later, when its own fence has stopped its writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from reconciler import logs, sharding
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.leader import LeaderElector
from reconciler.leases import LEASES, LeaseConfig, LeaseSightings

TURN_TIMEOUT = 120.0
"""How long `mlcp apply` waits for the Lease (a leader hands it over after the pass in flight)."""

SHARD_ZERO = sharding.lease_name(0)
"""Made (unheld) by a replica before it takes its first shard: while it does not exist, no shard has a holder."""


class Sharded(BackendError):
    """A shard Lease has a holder: a replica of a sharded controller may write the tenants an apply writes."""


def refuse_if_sharded(kube: KubeClient, namespace: str) -> None:
    """Raise `Sharded` while a shard Lease has a holder (BackendError when that cannot be told)."""
    collection = LEASES.format(namespace=namespace)
    try:
        zero = kube.request("GET", f"{collection}/{SHARD_ZERO}")
    except HttpError as exc:
        if exc.status == 404:
            return  # no replica ever took a shard here
        raise
    holder = (zero.get("spec") or {}).get("holderIdentity")
    held = [(SHARD_ZERO, str(holder))] if holder else _held_shards(kube, namespace)
    if held:
        name, holder = held[0]
        raise Sharded(
            f"the controller in {namespace} runs sharded (Lease {name} is held by {holder!r}): its replicas "
            "write tenants under their shard Leases, so an apply would be a second writer; nothing was applied. "
            "Commit the change to the config repo and let the controller apply it (if that controller is gone for "
            f"good, delete the Leases mlcp-shard-* and mlcp-member-* in {namespace} first)"
        )


class ShardWriters:
    """The replicas of a sharded controller that may still write here, for a controller without `--shards` that
    has just become the leader (see the module docstring)."""

    def __init__(self, kube: KubeClient, namespace: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.namespace = namespace
        self.clock = clock
        self._sightings = LeaseSightings()

    def live(self) -> list[tuple[str, str]]:
        """(Lease, holder) of every live shard Lease; raises BackendError when that cannot be told."""
        collection = LEASES.format(namespace=self.namespace)
        try:
            self.kube.request("GET", f"{collection}/{SHARD_ZERO}")
        except HttpError as exc:
            if exc.status == 404:
                return []  # no replica ever took a shard here
            raise
        now = self.clock()
        live = []
        for name, spec in _shard_leases(self.kube, self.namespace):
            holder, _ = self._sightings.live(name, spec, now)
            if holder is not None:
                live.append((name, holder))
        return sorted(live)


def _held_shards(kube: KubeClient, namespace: str) -> list[tuple[str, str]]:
    """(Lease, holder) of every shard Lease with a holder."""
    return sorted(
        (name, str(spec["holderIdentity"]))
        for name, spec in _shard_leases(kube, namespace)
        if spec.get("holderIdentity")
    )


def _shard_leases(kube: KubeClient, namespace: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, spec) of every shard Lease in the namespace."""
    try:
        listing = kube.request("GET", LEASES.format(namespace=namespace))
    except HttpError as exc:
        if exc.status not in (401, 403):
            raise
        raise BackendError(
            f"a sharded controller ran in {namespace} (Lease {SHARD_ZERO} exists), and whether one of its replicas "
            f"holds a shard now cannot be told without listing the Leases there ({exc}): mlcp needs `list` on "
            f"leases in {namespace} (the deployed Role has it); nothing was written"
        ) from exc
    leases = []
    for lease in listing.get("items") or []:
        name = str((lease.get("metadata") or {}).get("name") or "")
        if name.startswith(sharding.LEASE_PREFIX):
            leases.append((name, lease.get("spec") or {}))
    return leases


@contextmanager
def hold(kube: KubeClient, namespace: str, identity: str, timeout: float = TURN_TIMEOUT) -> Iterator[LeaderElector]:
    """Hold the Lease for one turn of `mlcp apply`: asked of the leader, renewed while held, released after.

    Raises BackendError when the Lease is not handed over within `timeout` (a leader in a very long pass, or a
    replica of an older mlcp that does not hand over), and `Sharded` against a sharded controller (before asking
    anything, or once the Lease is taken: then it is released at once, nothing written).
    """
    elector = LeaderElector(kube, LeaseConfig(namespace, identity))
    refuse_if_sharded(kube, namespace)
    deadline = time.monotonic() + timeout
    asked = False
    while not elector.step():
        if isinstance(elector.last_error, HttpError) and elector.last_error.status in (401, 403):
            raise elector.last_error  # waiting will not grant the right to take the Lease
        asked = asked or elector.ask_handover()
        if time.monotonic() > deadline:
            elector.withdraw()
            raise BackendError(
                f"the Lease {namespace}/{elector.config.name} is held by {elector.holder!r} and was not handed over "
                f"within {timeout:.0f}s; nothing was applied"
            )
        time.sleep(elector.config.retry_period / 2)
    try:
        refuse_if_sharded(kube, namespace)  # taken: a replica that took a shard meanwhile is seen now, or sees us
    except BackendError:
        elector.release()
        raise
    stop = threading.Event()
    renewing = threading.Thread(target=_renew, args=(elector, stop), name="mlcp-lease", daemon=True)
    renewing.start()
    try:
        yield elector
    finally:
        stop.set()
        renewing.join(timeout=elector.config.duration)
        elector.release()


def _renew(elector: LeaderElector, stop: threading.Event) -> None:
    """The turn's thread: a renewal and a look at the shard Leases every retry period, until the turn ends."""
    while not stop.wait(elector.config.retry_period) and keep(elector):
        pass


def keep(elector: LeaderElector) -> bool:
    """Renew the turn's Lease, then look at the shard Leases: one with a holder ends the turn at once (the Lease
    released, nothing more written). False once the turn is over. Never raises (see `LeaderElector.run`)."""
    try:
        if elector.step():
            refuse_if_sharded(elector.kube, elector.config.namespace)
    except Sharded as exc:
        logs.get().error(f"{exc}; this apply stops writing")
        elector.release()
        return False
    except Exception:
        logs.get().exception("lease round failed; trying again", extra={"lease": elector.config.name})
    return True
