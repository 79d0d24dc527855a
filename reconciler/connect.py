"""The loop's own Kubernetes clients: its home cluster's records, and a separate one for leader election.

The loop keeps its records (per-tenant revisions, the audit log and its
anchor, events, the Lease) in the controller namespace of the operator's
cluster. Where that is comes from the operator's settings (a kubeconfig flag
or $KUBECONFIG, else the pod's ServiceAccount), never from the config repo.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.backends.base import Backend
from reconciler.backends.kubernetes import KubernetesBackend
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.targets import Targets


def home(backends: Mapping[str, Backend], targets: Targets) -> KubeClient:
    """The connected Kubernetes backend's client, when there is one (one pool, one request count), else a new
    client for the operator's cluster."""
    found = backends.get(KubernetesBackend.system)
    if isinstance(found, KubernetesBackend):
        return found.client
    return KubeClient.connect(targets)


def lease_client(kubeconfig: str | None, context: str | None, namespace: str) -> KubeClient:
    """A client of its own for leader election, so renewals never queue behind a pass's writes."""
    return KubeClient.connect(Targets(kubeconfig, context, controller_namespace=namespace))
