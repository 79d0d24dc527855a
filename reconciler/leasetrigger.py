"""Forwarding a webhook to the leader: a PATCH of the leader's Lease's annotations, at most one per retry period.

A replica that is not the leader (or a shard's holder that is not the platform
leader) cannot run the pass a delivery asks for, so it bumps the annotation
`mlcp.dev/trigger` on the leader's Lease; the leader sees it change on its
next renewal (reconciler.leader) and runs a pass. Deliveries are anyone's to
send (any MLflow user moving their own model's alias sends one), and each PATCH
makes the holder's next write of the Lease read it again, so a replica sends at
most one per retry period: requests within a period of the last one are one
request, sent when the period is over. A pass started by the last request sent
reads everything pushed before it, so none is lost.

Its own module because it shares nothing with the election but the Lease's path:
it neither reads the Lease nor holds the election's lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from reconciler import logs
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_client import KubeClient

TRIGGER_ANNOTATION = "mlcp.dev/trigger"
"""Set by a replica that received a webhook; the leader sees it change on its next renewal and runs a pass. At most
once per retry period per replica (`Triggers.send`), however many deliveries arrive."""


def stamp() -> str:
    """Now, as a Lease's MicroTime (the API server writes it back in the same form)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Triggers:
    """The requests for a pass this process sends to the leader's Lease at `path` (see the module docstring)."""

    def __init__(
        self, kube: KubeClient, path: Callable[[], str], period: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.kube = kube
        self.path = path
        self.period = period
        self.clock = clock
        self._sent = -float("inf")
        """When this process last asked for a pass, on its clock."""
        self._later: threading.Timer | None = None
        """The request held back until a retry period after the last one, if any."""
        self._lock = threading.Lock()

    def send(self) -> None:
        """Ask the leader (whoever it is) for a pass, now or, within a period of the last request, at its end."""
        with self._lock:
            if self._later is not None:
                return  # a held request is due: it reads everything pushed before it (sending now too made two)
            wait = self._sent + self.period - self.clock()
            if wait > 0:
                self._later = threading.Timer(wait, self._held)
                self._later.daemon = True
                self._later.start()
                return
            self._sent = self.clock()
        self._patch()

    def cancel(self) -> None:
        """Drop a request held back (a released candidate: the next leader starts its term with a pass anyway)."""
        with self._lock:
            if self._later is not None:
                self._later.cancel()
                self._later = None

    def _held(self) -> None:
        with self._lock:
            self._later = None
            self._sent = self.clock()
        self._patch()

    def _patch(self) -> None:
        patch = {"metadata": {"annotations": {TRIGGER_ANNOTATION: stamp()}}}
        try:
            self.kube.request("PATCH", self.path(), body=patch, content_type="application/merge-patch+json")
        except BackendError as exc:
            logs.get().warning("could not forward the trigger to the leader", extra={"error": str(exc)})
