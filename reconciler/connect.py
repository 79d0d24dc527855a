"""The loop's own Kubernetes clients: its home cluster's records, and a separate one for leader election.

The loop keeps its records (per-tenant revisions, the audit log and its
anchor, events, the Lease) in the controller namespace of the operator's
cluster. Where that is comes from the operator's settings (a kubeconfig flag
or $KUBECONFIG, else the pod's ServiceAccount), never from the config repo.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from reconciler.backends.base import Backend
from reconciler.backends.kubernetes import KubernetesBackend, incluster_client
from reconciler.targets import Targets

Home = KubernetesBackend
"""The client of the cluster that holds the loop's own records."""


def home(backends: Mapping[str, Backend], targets: Targets) -> Home:
    """The connected Kubernetes backend, when there is one (one pool, one request count), else a new client."""
    found = backends.get(KubernetesBackend.system)
    if isinstance(found, KubernetesBackend):
        return found
    return KubernetesBackend.connect(targets)


def lease_backend(kubeconfig: str | None, context: str | None, namespace: str) -> KubernetesBackend:
    """A client of its own for leader election, so renewals never queue behind a pass's writes."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if not path and "KUBERNETES_SERVICE_HOST" in os.environ:
        return KubernetesBackend(incluster_client(), namespace)
    return KubernetesBackend.from_kubeconfig(path.split(os.pathsep)[0] if path else None, context, namespace)
