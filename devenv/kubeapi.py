"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback, no kubelet.

The flag set follows controller-runtime's envtest (secure serving only, RBAC,
service-account issuer and signing keys) with differences that matter to
mlcp: the ServiceAccount admission plugin stays on and kube-controller-manager
runs, so deleted namespaces really go away, owner references are garbage
collected and every namespace gets its `default` ServiceAccount, as in a real
cluster; kube-scheduler runs, so pods are bound to KWOK's fake nodes (kwok.py)
by the real scheduling rules (resources, selectors, taints). etcd and the API
server are launched at once (the API server retries etcd); the controller
manager and the scheduler only once the API server is ready, because they give
up when it takes more than 10 s, which a busy machine can make it take.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from devenv import kubeconfig
from devenv.binaries import Binaries
from devenv.pki import KeyPair, Pki
from devenv.processes import ServerProcess, free_port, http_ok, insecure_tls, stop_all

ADMIN_USER = "mlcp-admin"
ADMIN_GROUPS = ("system:masters",)
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"


@dataclass(frozen=True, slots=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())


def etcd_argv(binaries: Binaries, data_dir: Path, ports: Ports) -> list[str]:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        str(binaries.etcd),
        "--name=default",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--initial-cluster-state=new",
        # a throwaway store: skip fsync like envtest does, it halves write latency
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_argv(
    binaries: Binaries, *, pki: Pki, serving: KeyPair, sa: KeyPair, ports: Ports, cert_dir: Path
) -> list[str]:
    url = f"https://127.0.0.1:{ports.apiserver}"
    return [
        str(binaries.kube_apiserver),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={cert_dir}",
        f"--tls-cert-file={serving.cert_file}",
        f"--tls-private-key-file={serving.key_file}",
        f"--client-ca-file={pki.ca.cert_file}",
        "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        f"--service-account-issuer={url}",
        f"--service-account-key-file={sa.cert_file}",
        f"--service-account-signing-key-file={sa.key_file}",
        "--allow-privileged=true",
        "--profiling=false",
    ]


def controller_manager_argv(
    binaries: Binaries, *, pki: Pki, sa: KeyPair, kubeconfig_file: Path, ports: Ports, cert_dir: Path
) -> list[str]:
    return [
        str(binaries.kube_controller_manager),
        f"--kubeconfig={kubeconfig_file}",
        # each controller acts as its own ServiceAccount, as in a real cluster
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={sa.key_file}",
        f"--root-ca-file={pki.ca.cert_file}",
        f"--cluster-signing-cert-file={pki.ca.cert_file}",
        f"--cluster-signing-key-file={pki.ca.key_file}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        f"--cert-dir={cert_dir}",
        "--controllers=*",
        "--profiling=false",
    ]


def scheduler_argv(binaries: Binaries, *, kubeconfig_file: Path, ports: Ports, cert_dir: Path) -> list[str]:
    return [
        str(binaries.kube_scheduler),
        f"--kubeconfig={kubeconfig_file}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.scheduler}",
        f"--cert-dir={cert_dir}",
        "--profiling=false",
    ]


class KubeControlPlane:
    """The Kubernetes processes of one environment, under `root`."""

    def __init__(self, binaries: Binaries, pki: Pki, root: Path) -> None:
        self.root = root
        self.pki = pki
        self.ports = Ports.pick()
        self.url = f"https://127.0.0.1:{self.ports.apiserver}"
        self.kubeconfig_dir = root / "kubeconfig"
        logs = root / "logs"
        serving = pki.serving()
        sa = pki.service_account_keys()
        kcm_kubeconfig = self.write_kubeconfig("system:kube-controller-manager", (), root / "pki" / "kcm.kubeconfig")
        scheduler_kubeconfig = self.write_kubeconfig("system:kube-scheduler", (), root / "pki" / "scheduler.kubeconfig")
        self.admin_kubeconfig = self.write_kubeconfig(ADMIN_USER, ADMIN_GROUPS)
        self.etcd = ServerProcess("etcd", etcd_argv(binaries, root / "etcd", self.ports), logs / "etcd.log")
        self.apiserver = ServerProcess(
            "kube-apiserver",
            apiserver_argv(
                binaries,
                pki=pki,
                serving=serving,
                sa=sa,
                ports=self.ports,
                cert_dir=root / "pki" / "apiserver",
            ),
            logs / "kube-apiserver.log",
        )
        self.controller_manager = ServerProcess(
            "kube-controller-manager",
            controller_manager_argv(
                binaries,
                pki=pki,
                sa=sa,
                kubeconfig_file=kcm_kubeconfig,
                ports=self.ports,
                cert_dir=root / "pki" / "kcm",
            ),
            logs / "kube-controller-manager.log",
        )
        self.scheduler = ServerProcess(
            "kube-scheduler",
            scheduler_argv(
                binaries, kubeconfig_file=scheduler_kubeconfig, ports=self.ports, cert_dir=root / "pki" / "scheduler"
            ),
            logs / "kube-scheduler.log",
        )

    @property
    def processes(self) -> tuple[ServerProcess, ...]:
        return (self.etcd, self.apiserver, self.controller_manager, self.scheduler)

    def write_kubeconfig(self, user: str, groups: tuple[str, ...] = (), path: Path | None = None) -> Path:
        """Mint a client certificate for `user` in `groups` and its kubeconfig."""
        client = self.pki.client(user, groups)
        safe = client.cert_file.stem.removeprefix("user-")
        target = path or self.kubeconfig_dir / f"{safe}.kubeconfig"
        return kubeconfig.write(target, self.url, self.pki.ca.cert_pem(), user, client)

    def start(self) -> None:
        """Launch etcd and the API server; call from the main thread (see processes.py)."""
        self.etcd.start()
        self.apiserver.start()

    def start_controllers(self) -> None:
        """Launch the controller manager and the scheduler, once the API server is ready; main thread only."""
        self.controller_manager.start()
        self.scheduler.start()

    def _ca_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki.ca.cert_file))

    def wait_apiserver(self, timeout: float) -> None:
        context = self._ca_context()
        self.apiserver.wait_until(lambda: http_ok(f"{self.url}/readyz", context, b"ok"), timeout)
        if self.etcd.exited() is not None:
            raise self.etcd.failure("exited")

    def wait_controller_manager(self, timeout: float) -> None:
        url = f"https://127.0.0.1:{self.ports.controller_manager}/healthz"
        context = insecure_tls()
        self.controller_manager.wait_until(lambda: http_ok(url, context, b"ok"), timeout)

    def wait_scheduler(self, timeout: float) -> None:
        url = f"https://127.0.0.1:{self.ports.scheduler}/healthz"
        self.scheduler.wait_until(lambda: http_ok(url, insecure_tls(), b"ok"), timeout)

    def stop(self) -> None:
        """API server, controller manager and scheduler together, etcd last.

        etcd drains its clients' connections on SIGTERM, so stopping it while
        the API server still runs takes ~7 s; after the API server, no time.
        """
        stop_all((self.controller_manager, self.scheduler, self.apiserver))
        self.etcd.stop()
