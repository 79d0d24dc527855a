"""The skeleton both argoexec stand-ins share: a daemon thread watching Argo's workflow pods as the cluster admin.

KWOK runs no container, so what argoexec does inside a workflow's pods is
played by test stand-ins (`taskresults`: the `wait` container's task results;
`resourcesteps`: `argoexec resource`). Both follow every pod labelled with its
workflow, survive the API server restarting under them, and end on `stop()`;
only what they do with a pod differs, so that is all a stand-in writes.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from devenv.clients import api_client

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"


class ArgoPodWatcher:
    """Calls `pod_event` for every event on a workflow pod, and `after_watch` after each watch window."""

    thread_name = "argo-pod-watcher"
    watch_seconds = 2
    """How long one watch request lasts before `after_watch` runs and a new one starts."""
    retry_seconds = 0.5

    def __init__(self, admin_kubeconfig: Path) -> None:
        self._kubeconfig = admin_kubeconfig
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to end after its current watch (`stop` waits for it)."""
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def pod_event(self, api: client.ApiClient, pod: dict[str, Any]) -> None:
        raise NotImplementedError

    def after_watch(self, api: client.ApiClient) -> None:
        """Work that is not driven by a pod event (polling what a pod waits for); nothing by default."""

    def _run(self) -> None:
        # the owner's SIGTERM/SIGHUP/SIGINT must reach its main thread: a signal the kernel hands this thread
        # runs Python's handler only when the main thread next wakes (a test's `time.sleep(600)`: never in time)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGHUP, signal.SIGINT})
        with api_client(self._kubeconfig) as api:
            core = client.CoreV1Api(api)
            while not self._stopping.is_set():
                try:
                    stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                        core.list_pod_for_all_namespaces,
                        label_selector=WORKFLOW_LABEL,
                        timeout_seconds=self.watch_seconds,
                    )
                    for event in stream:
                        self.pod_event(api, api.sanitize_for_serialization(event["object"]))
                        if self._stopping.is_set():
                            break
                    self.after_watch(api)
                except Exception:  # the API server restarting or stopping: try again, or end
                    self._stopping.wait(self.retry_seconds)
