"""Argo Workflows' own workflow-controller, run against the environment's API server.

mlcp renders WorkflowTemplates and CronWorkflows; only Argo's controller can
say whether they run. It runs here as it would in a cluster installed from
Argo's `manifests/cluster-install`: as ServiceAccount `argo` in namespace
`argo`, with upstream's ClusterRole, Role and bindings (copied from the module
by build-addons.sh, plus the aggregate roles that give `admin`/`edit`/`view`
Argo's kinds), authenticated by a token from the TokenRequest API. It is never
the cluster admin, so a permission Argo lacks in a real install is missing
here too. Leader election is off (one controller per API server). The
controller's pods get their status from KWOK (kwok.py): no executor runs.

Argo's controller always serves /healthz on port 6060 of every interface: the
first environment on a machine gets it, later ones log that it is taken and
carry on. Readiness is taken from its metrics port instead, chosen per
environment.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from devenv import binaries, kubeapply, kubeconfig
from devenv.processes import ServerProcess, free_port, http_ok

NAMESPACE = "argo"
SERVICE_ACCOUNT = "argo"
CONFIGMAP = "workflow-controller-configmap"
EXECUTOR_IMAGE = f"quay.io/argoproj/argoexec:{binaries.ARGO_WORKFLOWS_VERSION}"
TOKEN_SECONDS = 30 * 24 * 3600  # as long as the environment's certificates
GRACE_SECONDS = 2.0
"""How long the workflow-controller gets after SIGTERM before SIGKILL: it keeps no state of its own."""
RBAC_FILES = (
    "workflow-controller-sa.yaml",
    "workflow-aggregate-roles.yaml",
    "workflow-controller-clusterrole.yaml",
    "workflow-controller-clusterrolebinding.yaml",
    "workflow-controller-role.yaml",
    "workflow-controller-rolebinding.yaml",
)


def rbac_manifests() -> list[dict[str, Any]]:
    """Upstream's controller RBAC, placed in NAMESPACE as kustomize's `namespace: argo` would."""
    docs = []
    for name in RBAC_FILES:
        for doc in yaml.safe_load_all((binaries.argo_dir() / "rbac" / name).read_text()):
            if not doc:
                continue
            if doc["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
                doc["metadata"]["namespace"] = NAMESPACE
            for subject in doc.get("subjects", []):
                if subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = NAMESPACE
            docs.append(doc)
    return docs


def configmap(metrics_port: int) -> dict[str, Any]:
    """The controller's configuration: metrics on a port of this environment's, no TLS on loopback."""
    config = {"metricsConfig": yaml.safe_dump({"enabled": True, "port": metrics_port, "secure": False})}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP, "namespace": NAMESPACE},
        "data": config,
    }


def argv(controller: Path, kubeconfig_file: Path) -> list[str]:
    return [
        str(controller),
        f"--kubeconfig={kubeconfig_file}",
        f"--namespace={NAMESPACE}",
        f"--configmap={CONFIGMAP}",
        f"--executor-image={EXECUTOR_IMAGE}",
        "--loglevel=info",
    ]


class WorkflowController:
    """Argo's workflow-controller of one environment."""

    def __init__(self, controller: Path, root: Path, server: str, ca_pem: bytes) -> None:
        self.metrics_port = free_port()
        self._server = server
        self._ca_pem = ca_pem
        self.kubeconfig = root / "kubeconfig" / "argo-workflow-controller.kubeconfig"
        env = dict(
            os.environ,
            LEADER_ELECTION_DISABLE="true",
            # Argo's own development setting: re-check workflows every second, not every 10 s
            DEFAULT_REQUEUE_TIME="1s",
        )
        # its state is in the API server; after SIGTERM it waits ~10 s for nothing a test environment needs
        self.process = ServerProcess(
            "workflow-controller", argv(controller, self.kubeconfig), root / "logs" / "workflow-controller.log",
            env=env, grace=GRACE_SECONDS, death_signal=signal.SIGKILL,  # after SIGTERM it lingered, orphaned
        )  # fmt: skip

    def install(self, api: client.ApiClient) -> None:
        """Namespace, upstream RBAC, configuration, and a kubeconfig with the ServiceAccount's token."""
        kubeapply.apply(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        for doc in [*rbac_manifests(), configmap(self.metrics_port)]:
            kubeapply.apply(api, doc)
        url = kubeapply.path("v1", "ServiceAccount", SERVICE_ACCOUNT, NAMESPACE) + "/token"
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"}
        answer = kubeapply.request(api, "POST", url, {**body, "spec": {"expirationSeconds": TOKEN_SECONDS}})
        user = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
        kubeconfig.write(self.kubeconfig, self._server, self._ca_pem, user, str(answer["status"]["token"]))

    def start(self) -> None:
        self.process.start()

    def restart(self, timeout: float = 60.0) -> None:
        """Stop and start again: after an API server outage its ConfigMap watchers do not recover (a closed watch
        is read in a loop, logging an error each time: gigabytes within minutes), so an environment that restarts
        its API server restarts the controller too."""
        self.process.stop()
        self.process.start()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.process.wait_until(lambda: http_ok(url), timeout)
