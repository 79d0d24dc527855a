"""Backends for the loop: the engine's, plus the in-cluster identity when running in a pod.

`mlcp plan` and `mlcp apply` run where a kubeconfig is; the controller runs
in a pod with a ServiceAccount token and no kubeconfig. A kubeconfig named by
the operator (a flag or $KUBECONFIG, never the config repo) still wins, so the
same binary runs the loop on a laptop.
"""

from __future__ import annotations

import os

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

from controlplane.loading.repo import ConfigRepo
from reconciler import engine
from reconciler.backends.base import Backend, BackendError
from reconciler.backends.kubernetes import KubernetesBackend


def in_cluster(targets: engine.Targets) -> bool:
    """No kubeconfig from the operator, inside a pod: the pod's own ServiceAccount."""
    return not targets.resolved_kubeconfig() and "KUBERNETES_SERVICE_HOST" in os.environ


def incluster_client() -> ApiClient:
    configuration = Configuration()
    try:
        kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except kube_config.ConfigException as exc:
        raise BackendError(f"cannot use the pod's service account: {exc}") from None
    configuration.connection_pool_maxsize = 64
    return ApiClient(configuration)


def connect(repo: ConfigRepo, targets: engine.Targets) -> dict[str, Backend]:
    return engine.connect(repo, targets, incluster_client() if in_cluster(targets) else None)


def lease_backend(kubeconfig: str | None, context: str | None, namespace: str) -> KubernetesBackend:
    """A client of its own for leader election, so renewals never queue behind a pass's writes."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if not path and "KUBERNETES_SERVICE_HOST" in os.environ:
        return KubernetesBackend(incluster_client(), namespace)
    return KubernetesBackend.from_kubeconfig(path.split(os.pathsep)[0] if path else None, context, namespace)
