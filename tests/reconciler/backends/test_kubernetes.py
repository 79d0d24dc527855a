"""Where the Kubernetes backend reads live state: the watch cache when it can answer, a fresh list of its own when
not; a full pass's read (after `forget`) is the cache's fresh lists, counted as the pass's requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from kubernetes.client import ApiClient, Configuration

from controlplane.plans import Action, Change, LiveObject, ObjectRef, SpecKey
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.kubernetes import RESOURCES, KubernetesBackend
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.impersonation import Allowed

QUOTA = ObjectRef("kubernetes", "v1", "ResourceQuota", "team", "compute")
LIVE = {QUOTA: LiveObject(QUOTA, {"kind": "ResourceQuota"}, "5")}


class _Client(KubeClient):
    """Answers LISTs with nothing (the inventory's, in the controller namespace, too), counting the kinds' LISTs."""

    def __init__(self) -> None:
        configuration = Configuration()
        configuration.host = "https://127.0.0.1:1"
        super().__init__(ApiClient(configuration), "mlcp-system")
        self.lists = 0

    def request(self, method: str, path: str, query: list[tuple[str, str]] | None = None, *_a: Any, **_k: Any) -> Any:
        with self._count_lock:
            self._requests += 1
        if query and any(name == "labelSelector" for name, _ in query):
            self.lists += not path.endswith("/namespaces/mlcp-system/configmaps")
            return {"metadata": {}, "items": []}
        return {}


class _Cache:
    """A watch cache that is synced (`snapshot`) and can list afresh (`fresh`), or cannot (None)."""

    def __init__(self, synced: bool = True, fresh: bool = True) -> None:
        self.synced, self.can_list, self.fresh_reads = synced, fresh, 0

    def snapshot(self) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...]] | None:
        return (LIVE, ()) if self.synced else None

    def fresh(self) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...], int] | None:
        self.fresh_reads += 1
        return (LIVE, (), 15) if self.can_list else None

    def written(self, ref: ObjectRef, item: dict[str, Any]) -> None:
        return

    def deleted(self, ref: ObjectRef, version: str) -> None:
        return

    def take_changed(self) -> frozenset[ObjectRef] | None:
        return frozenset()


def _backend(cache: _Cache) -> tuple[KubernetesBackend, _Client]:
    client = _Client()
    backend = KubernetesBackend(client)
    backend.cache = cache
    return backend, client


def test_a_full_pass_reads_the_caches_fresh_lists_and_counts_them_instead_of_listing_beside_it() -> None:
    cache = _Cache()
    backend, client = _backend(cache)
    backend.forget()  # a full pass (the controller started, a resync, a new term)
    state = backend.read()
    assert state.objects == LIVE and cache.fresh_reads == 1
    assert client.lists == 0, "no LIST of its own: the cache's lists are the read"
    assert client.requests == 15 + 1, "the cache's list pages and the inventory's LIST are this read's requests"
    noop = backend.read()
    assert noop.objects == LIVE and cache.fresh_reads == 1 and client.requests == 16, "then the watch: no request"


def test_a_cache_that_cannot_list_afresh_makes_the_full_pass_list_itself() -> None:
    cache = _Cache(fresh=False)
    backend, client = _backend(cache)
    backend.forget()
    assert backend.read().objects == {} and cache.fresh_reads == 1
    assert client.lists == len(RESOURCES), "one LIST per kind: the cache failed, so the pass read for itself"


def test_an_unsynced_cache_makes_an_incremental_read_list() -> None:
    backend, client = _backend(_Cache(synced=False))
    backend.read()
    assert client.lists == len(RESOURCES)


# -- what a failed write says --------------------------------------------------------------------------------


class _Answers(BaseHTTPRequestHandler):
    """Answers every request with `status` and `body` (a proxy's page, an API server's Status)."""

    status: ClassVar[int] = 502
    body: ClassVar[bytes] = b""
    content_type: ClassVar[str] = "text/html"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_PATCH = do_DELETE = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def answering() -> Iterator[KubernetesBackend]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        backend = KubernetesBackend(
            KubeClient(ApiClient(Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")))
        )
        backend.entrust(Allowed({"team-a": "team-a"}))  # the tenant of BINDING, as an authorized plan gives it
        yield backend
    finally:
        server.shutdown()
        server.server_close()


BINDING = ObjectRef("kubernetes", "rbac.authorization.k8s.io/v1", "RoleBinding", "team-a", "mlcp-edit")


def _write(action: Action) -> Change:
    desired = (
        None
        if action is Action.delete
        else {
            "apiVersion": BINDING.api_version,
            "kind": BINDING.kind,
            "metadata": {"name": BINDING.name, "namespace": "team-a"},
            # binds nobody: a binding mlcp's own identity writes grants only what the trusted Tenant gives
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "mlcp-tenant-member"},
            "subjects": [],
        }
    )
    spec = SpecKey.parse("Tenant/team-a/team-a")
    return Change(BINDING, action, "", spec, "team-a", "t.yaml", 31, desired=desired, live_version="1")


@pytest.mark.parametrize("action", [Action.update, Action.delete])
def test_a_proxys_error_page_is_a_failed_outcome_not_a_traceback(
    answering: KubernetesBackend, action: Action, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the load balancer in front of the API server answers 502 with HTML: before, orjson's JSONDecodeError
    # escaped apply, so `mlcp apply` ended in a traceback and the loop's pass died before recording its inventory
    monkeypatch.setattr(_Answers, "body", b"<html><body><h1>502 Bad Gateway</h1></body></html>")
    outcome = answering.apply(_write(action), ApplyOptions())
    assert outcome.status is Status.failed and outcome.uncertain, "behind the proxy the write may have happened"
    assert outcome.message.startswith("HTTP 502: the answer is not the API server's")
    assert "<h1>502 Bad Gateway</h1>" in outcome.message


def test_a_delete_refused_because_the_object_changed_since_the_plan_says_so_not_to_force(
    answering: KubernetesBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # someone edited the object between plan and apply: its resourceVersion precondition fails. The hint was
    # "rerun with --force-conflicts", which does nothing for a delete
    status = {
        "kind": "Status",
        "status": "Failure",
        "reason": "Conflict",
        "code": 409,
        "message": 'Operation cannot be fulfilled on rolebindings.rbac.authorization.k8s.io "mlcp-edit": the '
        "ResourceVersion in the precondition (1) does not match the ResourceVersion in record (7). The object "
        "might have been modified",
    }
    monkeypatch.setattr(_Answers, "status", 409)
    monkeypatch.setattr(_Answers, "content_type", "application/json")
    monkeypatch.setattr(_Answers, "body", json.dumps(status).encode())
    outcome = answering.apply(_write(Action.delete), ApplyOptions())
    assert outcome.status is Status.failed and not outcome.uncertain
    assert outcome.message.startswith("not deleted: the object changed since the plan")
    assert "--force-conflicts" not in outcome.message and "plan again" in outcome.message
    update = answering.apply(_write(Action.update), ApplyOptions())
    assert "--force-conflicts" in update.message, "an apply's field conflict: forcing is the way"
