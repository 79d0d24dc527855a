"""A real, local control plane for tests, the demo and trying mlcp by hand.

Every capability of mlcp is proven against real servers, not fakes: etcd,
kube-apiserver and kube-controller-manager built from the pinned upstream
release (no kubelet, as in controller-runtime's envtest), the CRDs of the
third-party kinds mlcp writes, and a real MLflow tracking server. See
docs/testing.md.

    from controlplane.devenv import Environment

    with Environment() as env:
        env.kubeconfig, env.mlflow_uri, env.user_kubeconfig("carol", ("team-c",))
"""

from controlplane.devenv.binaries import ETCD_VERSION, KUBERNETES_VERSION
from controlplane.devenv.environment import (
    DEFAULT_USERS,
    Environment,
    install_signal_handlers,
)
from controlplane.devenv.kubeapi import ADMIN_GROUPS, ADMIN_USER
from controlplane.devenv.mlflowserver import MLFLOW_VERSION
from controlplane.devenv.processes import StartupError

__all__ = [
    "ADMIN_GROUPS",
    "ADMIN_USER",
    "DEFAULT_USERS",
    "ETCD_VERSION",
    "KUBERNETES_VERSION",
    "MLFLOW_VERSION",
    "Environment",
    "StartupError",
    "install_signal_handlers",
]
