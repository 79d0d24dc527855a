"""The backends a loop's passes plan and write with: connected once per operator settings, kept between passes.

Connecting is costly (a client pool per system, a watch cache that lists every kind), so the loop connects
once and every pass reuses the connection; a change of the operator's targets (never of the repo: it only
states what it expects of them, `connecting.check_expectations`) connects afresh. Each pass then confines
the backends to its revision's tenants and scopes their live state to the tenants this replica keeps.
Kept apart from the pass (reconciler.passes), which only asks for the backends and the home cluster of its
own records (reconciler.connect.home).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from controlplane.loading.repo import ConfigRepo
from reconciler import connect, connecting
from reconciler.backends.base import Backend, Watching
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.metrics import Metrics
from reconciler.targets import Targets


class PassBackends:
    """The connected backends, their watches and the home cluster (see the module docstring)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.watches: list[Watching] = []
        self._connected: tuple[Targets, dict[str, Backend], KubeClient] | None = None

    @property
    def backends(self) -> Mapping[str, Backend]:
        """The connected backends by system (none before the first connection)."""
        return self._connected[1] if self._connected else {}

    def connect(
        self, repo: ConfigRepo, targets: Targets, holds: Callable[[str], bool] | None, watch: bool
    ) -> tuple[dict[str, Backend], KubeClient, bool]:
        """The backends (connected once per `targets`, then confined to this revision's tenants and scoped to
        `holds`), the home cluster of the loop's own records, and whether they were connected just now."""
        connecting.check_expectations(repo.config, targets, "the revision under review's")
        fresh = False
        if self._connected is None or self._connected[0] != targets:
            fresh = True
            self.close()
            backends = connecting.connect(repo, targets)
            self._connected = (targets, backends, connect.home(backends, targets))
            for backend in backends.values():
                backend.scope(holds)  # before its watch starts: a scoped cache lists only what it keeps
            if watch:
                self.watches = [w for w in (b.watch() for b in backends.values()) if w is not None]
                self.metrics.watch_objects.set_function(lambda: sum(w.stats()[0] for w in self.watches))
                self.metrics.watch_bytes.set_function(lambda: sum(w.stats()[1] for w in self.watches))
        _, backends, kube = self._connected
        connecting.confine(backends, repo)
        for backend in backends.values():
            backend.scope(holds)
        return backends, kube, fresh

    def close(self) -> None:
        """Stop the watches' threads, if any."""
        for watching in self.watches:
            watching.close()
        self.watches = []
