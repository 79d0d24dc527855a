"""KWOK: fake nodes on which pods run to completion without a kubelet or container runtime.

Argo's controller only finishes a Workflow when its pods finish, and the
environment runs no kubelet. KWOK (Kubernetes WithOut Kubelet) plays the
kubelet of the nodes below: it keeps them Ready (node leases), and moves
their pods through Stages. KWOK's stock fast Stages (copied from its module
by build-addons.sh) make every pod Running and delete deleted pods at once;
mlcp's own Stage (`kwok-argo-stage.yaml`) then completes Argo's pods with the
exit code a test chooses by annotation (`EXIT_CODE_ANNOTATION`), so a step can
fail. kube-scheduler binds pods to these nodes by the real rules.

KWOK acts as the cluster admin: it stands in for infrastructure (kubelets),
not for anything mlcp or Argo would run as.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from kubernetes import client

from devenv import binaries, kubeapply
from devenv.processes import ServerProcess, free_port, http_ok

NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
EXIT_CODE_ANNOTATION = "mlcp.dev/kwok-exit-code"
"""Pod annotation: the exit code of the `main` container (`<annotation>.<step>` for one step only)."""
DURATION_ANNOTATION = "mlcp.dev/kwok-duration"
"""Pod annotation: how long the pod stays Running before it completes (a Go duration, e.g. `3s`)."""
POOL_LABEL = "mlcp.dev/pool"

STOCK_STAGES = ("node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-complete", "pod-delete")

# name -> (labels, capacity): a CPU pool and a GPU pool, roomy enough for the template's pipelines
# (vision's train step asks for 8 CPUs, 32 GiB and a GPU) run by several tests at once.
NODES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "kwok-cpu-0": ({POOL_LABEL: "cpu"}, {"cpu": "64", "memory": "256Gi", "pods": "110"}),
    "kwok-gpu-0": (
        {POOL_LABEL: "gpu", "nvidia.com/gpu.present": "true"},
        {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8", "pods": "110"},
    ),
}


def node_manifests() -> list[dict[str, Any]]:
    """The fake nodes, with the capacity the scheduler fits pods into."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": dict([NODE_ANNOTATION]),
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                    **labels,
                },
            },
            "status": {"capacity": capacity, "allocatable": capacity},
        }
        for name, (labels, capacity) in NODES.items()
    ]


def stages() -> str:
    """KWOK's configuration: the stock Stages from KWOK's module, then mlcp's Argo Stage."""
    folder = binaries.kwok_dir() / "stages"
    docs = [(folder / f"{name}.yaml").read_text() for name in STOCK_STAGES]
    docs.append((resources.files("devenv") / "kwok-argo-stage.yaml").read_text())
    return "\n---\n".join(doc.strip() for doc in docs) + "\n"


def argv(kwok: Path, *, kubeconfig_file: Path, config_file: Path, port: int) -> list[str]:
    return [
        str(kwok),
        f"--kubeconfig={kubeconfig_file}",
        f"--config={config_file}",
        f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION[0]}={NODE_ANNOTATION[1]}",
        f"--server-address=127.0.0.1:{port}",
        "--cidr=10.244.0.0/16",
        "--node-ip=10.243.0.1",
        "--node-lease-duration-seconds=40",
    ]


class Kwok:
    """The KWOK controller of one environment, and its nodes."""

    def __init__(self, kwok: Path, admin_kubeconfig: Path, root: Path) -> None:
        self.port = free_port()
        config = root / "kwok" / "kwok.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(stages())
        self.process = ServerProcess(
            "kwok",
            argv(kwok, kubeconfig_file=admin_kubeconfig, config_file=config, port=self.port),
            root / "logs" / "kwok.log",
        )

    def install(self, api: client.ApiClient) -> None:
        """Create the nodes (before KWOK starts, so it takes them over at once)."""
        for node in node_manifests():
            kubeapply.apply(api, node)

    def start(self) -> None:
        self.process.start()

    def wait_ready(self, timeout: float) -> None:
        url = f"http://127.0.0.1:{self.port}/healthz"
        self.process.wait_until(lambda: http_ok(url, None, b"ok"), timeout)
