"""`mlcp apply`'s turn on the leader's Lease: asked of the leader, renewed while the CLI applies, released after.

The shared audit log has one writer at a time, and that writer holds the
Lease `mlcp-reconciler` (reconciler.leader): the loop between its passes, or
one `mlcp apply`. The CLI annotates the Lease with its identity, the leader
hands it over between two passes, and takes it back once the CLI releases it.

A controller run with `--shards` writes tenants under shard Leases, not this
one, so a CLI turn there would be a second writer: it is refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_client import HttpError, KubeClient
from reconciler.leader import LEASES, LeaderElector, LeaseConfig

TURN_TIMEOUT = 120.0
"""How long `mlcp apply` waits for the Lease (a leader hands it over after the pass in flight)."""

SHARD_ZERO = "mlcp-shard-0"
"""Held whenever a controller runs with --shards (every shard has a holder); see reconciler.shardleases."""


def _refuse_if_sharded(kube: KubeClient, namespace: str) -> None:
    """A sharded controller writes tenants under shard Leases, not this one: a CLI turn would be a second writer."""
    try:
        lease = kube.request("GET", LEASES.format(namespace=namespace) + f"/{SHARD_ZERO}")
    except HttpError as exc:
        if exc.status == 404:
            return
        raise
    holder = (lease.get("spec") or {}).get("holderIdentity")
    if holder:
        raise BackendError(
            f"the controller in {namespace} runs sharded (Lease {SHARD_ZERO} is held by {holder!r}): its replicas "
            "write tenants under their shard Leases, so an apply would be a second writer; nothing was applied. "
            "Commit the change to the config repo and let the controller apply it (if that controller is gone for "
            f"good, delete the Leases mlcp-shard-* and mlcp-member-* in {namespace} first)"
        )


@contextmanager
def hold(kube: KubeClient, namespace: str, identity: str, timeout: float = TURN_TIMEOUT) -> Iterator[LeaderElector]:
    """Hold the Lease for one turn of `mlcp apply`: asked of the leader, renewed while held, released after.

    Raises BackendError when the Lease is not handed over within `timeout` (a leader in a very long pass, or a
    replica of an older mlcp that does not hand over).
    """
    elector = LeaderElector(kube, LeaseConfig(namespace, identity))
    _refuse_if_sharded(kube, namespace)
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
    stop = threading.Event()
    renewing = threading.Thread(target=elector.run, args=(stop,), name="mlcp-lease", daemon=True)
    renewing.start()
    try:
        yield elector
    finally:
        stop.set()
        renewing.join(timeout=elector.config.duration)
        elector.release()
