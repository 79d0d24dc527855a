"""A real, local control plane for tests, the demo and trying mlcp by hand.

Every capability of mlcp is proven against real servers, not fakes: etcd,
kube-apiserver and kube-controller-manager built from the pinned upstream
release (no kubelet, as in controller-runtime's envtest), the CRDs of the
third-party kinds mlcp writes, and a real MLflow tracking server. See
docs/testing.md.

It is a top-level package of the checkout, not part of mlcp: the wheel and the
controller image ship only `controlplane` and `reconciler`, and no product
module may import it (an import-linter contract), so its dependencies
(`cryptography` for the test PKI) stay development-only. Tests, benchmarks,
the fuzzer and `make dev-up` import it from the repository root.

    from devenv import Environment

    with Environment() as env:
        env.kubeconfig, env.mlflow_uri, env.user_kubeconfig("carol", ("team-c",))
"""

from devenv.binaries import ETCD_VERSION, KUBERNETES_VERSION
from devenv.environment import (
    DEFAULT_USERS,
    Environment,
    install_signal_handlers,
)
from devenv.kubeapi import ADMIN_GROUPS, ADMIN_USER
from devenv.mlflowserver import MLFLOW_VERSION
from devenv.processes import StartupError

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
