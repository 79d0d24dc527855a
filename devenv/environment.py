"""One local environment: Kubernetes control plane, CRDs, Argo, KWOK and MLflow, started together.

Tests, `make dev-up` and the demo all use `Environment`, so what a developer
pokes at by hand is exactly what CI proves things against. Servers start in
parallel (the API server, controller manager and MLflow each take seconds and
are mostly CPU-bound on import and start-up); Argo's workflow-controller and
KWOK start as soon as the API server is ready and their namespace, RBAC and
nodes are in place. etcd starts on a seed that already holds the CRDs
(seed.py). Every started environment is stopped at interpreter exit even if
its owner forgot or crashed.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import yaml
from kubernetes import client

from devenv import crds, kubeapply, seed
from devenv.argo import WorkflowController
from devenv.binaries import ARGO_WORKFLOWS_VERSION, KUBERNETES_VERSION, KWOK_VERSION, ensure_built
from devenv.clients import api_client
from devenv.kubeapi import KubeControlPlane
from devenv.kwok import Kwok
from devenv.mlflowserver import MlflowServer, ensure_installed
from devenv.pki import Pki
from devenv.processes import ServerProcess, StartupError, stop_all
from devenv.resourcesteps import ResourceSteps
from devenv.taskresults import TaskResults

#: Ordinary identities every environment has: user name -> groups.
DEFAULT_USERS: dict[str, tuple[str, ...]] = {"alice": ("team-a",), "bob": ("team-b",)}

_running: set[Environment] = set()
_running_lock = threading.Lock()


def _stop_all() -> None:
    with _running_lock:
        environments = list(_running)
    for env in environments:
        env.stop()


atexit.register(_stop_all)


def install_signal_handlers() -> None:
    """Treat SIGTERM and SIGHUP like Ctrl-C, so `finally` blocks and atexit run.

    They raise KeyboardInterrupt, which pytest and the dev-up supervisor both
    handle by tearing down. Call from the main thread of a program that owns
    environments.
    """

    def _interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


class Environment:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler (+ Argo, KWOK, MLflow) on loopback.

    `workflows=False` leaves out Argo's workflow-controller and KWOK (their CRDs stay).
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        mlflow: bool = True,
        mlflow_basic_auth: bool = False,
        workflows: bool = True,
        users: dict[str, tuple[str, ...]] | None = None,
        start_timeout: float = 90.0,
    ) -> None:
        self._given_root = root
        self._with_mlflow = mlflow
        self._with_workflows = workflows
        self._mlflow_basic_auth = mlflow_basic_auth
        self._users = dict(DEFAULT_USERS if users is None else users)
        self._start_timeout = start_timeout
        self.root: Path | None = None
        self.kube: KubeControlPlane | None = None
        self.mlflow: MlflowServer | None = None
        self.argo: WorkflowController | None = None
        self.kwok: Kwok | None = None
        self.task_results: TaskResults | None = None
        """The test stand-in for argoexec's wait container (taskresults.py), with Argo and KWOK."""
        self.resource_steps: ResourceSteps | None = None
        """The test stand-in for `argoexec resource` in resource steps' pods (resourcesteps.py)."""
        #: user name -> kubeconfig of the first certificate minted for that name
        self.user_kubeconfigs: dict[str, Path] = {}
        self._minted: dict[tuple[str, tuple[str, ...]], Path] = {}
        self.startup_seconds = 0.0
        #: seconds from launch until each part was ready (for docs and slow-start hunting)
        self.ready_after: dict[str, float] = {}

    # -- what callers use ---------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        """The admin's kubeconfig (user `mlcp-admin` in group system:masters)."""
        return self._kube().admin_kubeconfig

    @property
    def api_url(self) -> str:
        return self._kube().url

    @property
    def mlflow_uri(self) -> str:
        if self.mlflow is None:
            raise RuntimeError("this environment was started without MLflow")
        return self.mlflow.uri

    @property
    def logs_dir(self) -> Path:
        return self._root() / "logs"

    def user_kubeconfig(self, name: str, groups: tuple[str, ...] = ()) -> Path:
        """Mint a client certificate for `name` in `groups`; its kubeconfig path.

        The user is authenticated but, until an RBAC binding says otherwise,
        allowed nothing: the way to prove the server refuses a request.
        """
        key = (name, tuple(groups))
        if key in self._minted:
            return self._minted[key]
        kube = self._kube()
        path = None
        if name in self.user_kubeconfigs:  # same user, other groups: a file of its own
            digest = hashlib.sha256("\n".join(groups).encode()).hexdigest()[:8]
            path = self.user_kubeconfigs[name].with_name(f"{self.user_kubeconfigs[name].stem}-{digest}.kubeconfig")
        path = kube.write_kubeconfig(name, tuple(groups), path)
        self.user_kubeconfigs.setdefault(name, path)
        self._minted[key] = path
        return path

    def describe(self) -> dict[str, Any]:
        """Plain data about the running environment (for state files and logs)."""
        kube = self._kube()
        return {
            "kubernetesVersion": KUBERNETES_VERSION,
            "argoWorkflowsVersion": ARGO_WORKFLOWS_VERSION if self.argo else None,
            "kwokVersion": KWOK_VERSION if self.kwok else None,
            "apiServer": kube.url,
            "kubeconfig": str(kube.admin_kubeconfig),
            "users": {name: str(path) for name, path in self.user_kubeconfigs.items()},
            "mlflowTrackingUri": self.mlflow.uri if self.mlflow else None,
            "mlflowAdmin": self.mlflow.admin_credentials() if self.mlflow else None,
            "root": str(self._root()),
            "logs": str(self.logs_dir),
            "pids": {p.name: p.pid for p in self.processes() if p.pid},
            "readyAfterSeconds": {k: round(v, 1) for k, v in sorted(self.ready_after.items())},
        }

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> Environment:
        """Start everything and wait until it is ready; on failure stop it all."""
        binaries = ensure_built()
        seed_dir = seed.ensure(binaries)  # slow only the first time on a machine, not counted as start-up
        if self._with_mlflow:
            ensure_installed()  # likewise
        began = time.monotonic()
        self.root = self._given_root or Path(tempfile.mkdtemp(prefix="mlcp-devenv-"))
        self.root.mkdir(parents=True, exist_ok=True)
        with _running_lock:
            _running.add(self)
        try:
            # servers are launched from this (main) thread: see processes.py on PR_SET_PDEATHSIG
            if self._with_mlflow:  # first: its Python imports are the slowest start
                self.mlflow = MlflowServer(
                    self.root / "mlflow",
                    self.root / "logs" / "mlflow.log",
                    basic_auth=self._mlflow_basic_auth,
                )
                self.mlflow.start()
            self.kube = KubeControlPlane(binaries, Pki(self.root / "pki"), self.root)
            seed.plant(seed_dir, self.root / "etcd")
            for name, groups in self._users.items():
                self.user_kubeconfig(name, groups)
            self.kube.start()
            if self._with_workflows:
                ca = self.kube.pki.ca.cert_pem()
                self.argo = WorkflowController(binaries.workflow_controller, self.root, self.kube.url, ca)
                self.kwok = Kwok(binaries.kwok, self.kube.admin_kubeconfig, self.root)
            self._wait_ready(began, seed.served(seed_dir))
            with api_client(self.kube.admin_kubeconfig) as api:
                install_tenant_roles(api)
            if self._with_workflows:
                self.task_results = TaskResults(self.kube.admin_kubeconfig)
                self.task_results.start()
                self.resource_steps = ResourceSteps(self.kube.admin_kubeconfig)
                self.resource_steps.start()
        except BaseException:
            self.stop(keep_files=True)
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, began: float, served: list[dict[str, Any]]) -> None:
        kube = self._kube()
        timeout = self._start_timeout

        def ready(name: str, wait: Callable[[float], None]) -> Callable[[], None]:
            def run() -> None:
                wait(timeout)
                self.ready_after[name] = time.monotonic() - began

            return run

        def apiserver(_timeout: float) -> None:
            kube.wait_apiserver(timeout)
            self.ready_after["kube-apiserver"] = time.monotonic() - began
            with api_client(kube.admin_kubeconfig) as api:
                crds.wait_served(api, served, timeout)
            self.ready_after["crds"] = time.monotonic() - began

        def install(_timeout: float) -> None:  # what Argo's controller and KWOK need before they start
            with api_client(kube.admin_kubeconfig) as api:
                for part in (self.argo, self.kwok):
                    if part is not None:
                        part.install(api)

        waits = [ready("mlflow", self._mlflow().wait_ready)] if self.mlflow else []
        with ThreadPoolExecutor(max_workers=len(waits) + 6) as pool:
            futures = [pool.submit(wait) for wait in waits]
            steps = [pool.submit(apiserver, timeout)]
            # processes are launched from this thread, each once what it needs is there
            if steps[-1].exception() is None:
                kube.start_controllers()
                futures.append(pool.submit(ready("kube-controller-manager", kube.wait_controller_manager)))
                futures.append(pool.submit(ready("kube-scheduler", kube.wait_scheduler)))
                steps.append(pool.submit(install, timeout))
                if steps[-1].exception() is None:
                    for name, part in (("workflow-controller", self.argo), ("kwok", self.kwok)):
                        if part is not None:
                            part.start()
                            futures.append(pool.submit(ready(name, part.wait_ready)))
            errors = [*(f.exception() for f in steps), *(f.exception() for f in futures)]
        failed = [e for e in errors if e is not None]
        if failed:
            detail = "\n\n".join(str(e) for e in failed)
            raise StartupError(f"the local environment did not start (files kept in {self.root}):\n{detail}")

    def revive_api_server(self, timeout: float = 90.0) -> bool:
        """After a test's outage: start the API server again if it is stopped, wait until it serves, and restart
        what does not recover from an outage on its own (Argo's controller: its watchers spin on the closed watch).
        One call, so no caller can bring the API server back and forget its dependents. True if it was stopped."""
        kube = self._kube()
        stopped = kube.apiserver.pid is None
        if stopped:
            kube.apiserver.start()
        kube.wait_apiserver(timeout)
        if stopped and self.argo is not None:
            self.argo.restart()
        return stopped

    def stop(self, keep_files: bool = False) -> None:
        """Stop every process; delete the files unless `keep_files`. Idempotent.

        A `root` given by the caller is never deleted (the caller owns it).
        """
        with _running_lock:
            _running.discard(self)
        watchers = [w for w in (self.task_results, self.resource_steps) if w is not None]
        for watcher in watchers:  # both end their watches at once, not one after the other
            watcher.request_stop()
        for watcher in watchers:
            watcher.stop()
        if self.mlflow and self.mlflow.process:
            self.mlflow.process.terminate()  # exits while the Kubernetes side stops
        stop_all(part.process for part in (self.argo, self.kwok) if part is not None)
        if self.kube:
            self.kube.stop()
        if self.mlflow:
            self.mlflow.stop()
        if self.root and keep_files:
            # logs, certificates and kubeconfigs stay for a post-mortem; etcd's
            # preallocated 60 MB write-ahead log would only fill /tmp
            shutil.rmtree(self.root / "etcd", ignore_errors=True)
        elif self.root and self._given_root is None:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Environment:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(keep_files=exc_type is not None)
        if exc_type is not None and self.root:
            print(f"devenv: logs kept in {self.logs_dir}", file=sys.stderr)

    # -- internals ----------------------------------------------------------------
    def _kube(self) -> KubeControlPlane:
        if self.kube is None:
            raise RuntimeError("the environment is not started")
        return self.kube

    def _mlflow(self) -> MlflowServer:
        if self.mlflow is None:
            raise RuntimeError("the environment has no MLflow server")
        return self.mlflow

    def _root(self) -> Path:
        if self.root is None:
            raise RuntimeError("the environment is not started")
        return self.root

    def processes(self) -> list[ServerProcess]:
        procs: list[ServerProcess] = list(self.kube.processes) if self.kube else []
        procs += [part.process for part in (self.argo, self.kwok) if part is not None]
        if self.mlflow and self.mlflow.process:
            procs.append(self.mlflow.process)
        return procs


SHIPPED = Path(__file__).resolve().parents[1] / "deploy" / "kustomize" / "base"
SHIPPED_BESIDE = ("tenant-roles.yaml", "admission-policies.yaml")
"""What an operator installs with mlcp beside its own RBAC, as the deployment ships it (`make rbac` writes them): the
ClusterRoles mlcp binds in tenant namespaces and the admission policies confining people's runs and mlcp's writes."""


def install_tenant_roles(api: client.ApiClient) -> None:
    """Install the shipped tenant ClusterRoles and admission policies, as an operator does with the deployment: mlcp
    binds the roles by name and holds none of what they grant, so without them a tenant's people could do nothing;
    without the policies a member's Workflow could run anything as any account of the namespace."""
    for name in SHIPPED_BESIDE:
        for doc in yaml.safe_load_all((SHIPPED / name).read_text()):
            if doc:
                kubeapply.apply(api, doc)
