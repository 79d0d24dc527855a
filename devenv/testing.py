"""What integration tests run against: the local environment, or servers given by env vars.

By default the tests start their own `Environment`. `MLCP_TEST_KUBECONFIG`
points them at an existing cluster instead (its current context must be an
admin allowed to impersonate), and `MLCP_TEST_MLFLOW_URI` at an existing
MLflow server; whatever is not given is started locally. On an existing
cluster, ordinary users cannot be minted (there is no CA key to sign their
certificates), so user clients are the admin impersonating them.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client

from devenv import crds
from devenv.binaries import KUBERNETES_VERSION
from devenv.clients import api_client
from devenv.environment import Environment
from devenv.mlflowserver import MlflowServer

KUBECONFIG_VAR = "MLCP_TEST_KUBECONFIG"
MLFLOW_URI_VAR = "MLCP_TEST_MLFLOW_URI"


@dataclass
class TestTarget:
    """The servers one test session uses, and how to act as each identity."""

    __test__ = False  # not a test class, despite the name

    kubeconfig: Path
    mlflow_uri: str
    env: Environment | None = None
    mlflow: MlflowServer | None = None
    _clients: list[client.ApiClient] = field(default_factory=list)

    @property
    def local_cluster(self) -> bool:
        """True when these tests started the cluster (so they know its version and CA)."""
        return self.env is not None

    @property
    def expected_version(self) -> str | None:
        return KUBERNETES_VERSION if self.local_cluster else None

    @property
    def logs_dir(self) -> Path | None:
        if self.env is not None:
            return self.env.logs_dir
        return self.mlflow.directory.parent if self.mlflow else None

    def admin_client(self) -> client.ApiClient:
        return self._track(api_client(self.kubeconfig))

    def user_client(self, name: str, groups: tuple[str, ...] = ()) -> client.ApiClient:
        """A client authenticated as `name` (by certificate, or impersonated remotely)."""
        if self.env is not None:
            return self._track(api_client(self.env.user_kubeconfig(name, groups)))
        return self.impersonating_client(name, groups[0] if groups else None)

    def impersonating_client(self, name: str, group: str | None = None) -> client.ApiClient:
        """The admin acting as `name` (and `group`) through impersonation headers."""
        return self._track(api_client(self.kubeconfig, impersonate=name, group=group))

    def _track(self, api: client.ApiClient) -> client.ApiClient:
        self._clients.append(api)
        return api

    def stop(self, keep_files: bool = False) -> None:
        for api in self._clients:
            api.close()  # type: ignore[no-untyped-call]
        self._clients.clear()
        if self.mlflow is not None:
            self.mlflow.stop()
        if self.env is not None:
            self.env.stop(keep_files=keep_files)


def start(workflows: bool = True) -> TestTarget:
    """Start (or find) the servers for a test session; raise if any cannot start.

    `workflows=False` leaves out Argo's controller and KWOK (benchmarks that measure the API server alone).
    """
    external_kube = os.environ.get(KUBECONFIG_VAR)
    external_mlflow = os.environ.get(MLFLOW_URI_VAR)
    if not external_kube:
        env = Environment(mlflow=not external_mlflow, workflows=workflows).start()
        return TestTarget(env.kubeconfig, external_mlflow or env.mlflow_uri, env=env)
    target = TestTarget(Path(external_kube), external_mlflow or "")
    try:
        with api_client(target.kubeconfig) as api:
            crds.install(api, replace=False)  # leave a real Argo/Katib/KServe's CRDs alone
        if not external_mlflow:
            root = Path(tempfile.mkdtemp(prefix="mlcp-devenv-mlflow-"))
            target.mlflow = MlflowServer(root / "mlflow", root / "logs" / "mlflow.log")
            target.mlflow.start()
            target.mlflow.wait_ready(90)
            target.mlflow_uri = target.mlflow.uri
    except BaseException:
        target.stop(keep_files=True)
        raise
    return target
