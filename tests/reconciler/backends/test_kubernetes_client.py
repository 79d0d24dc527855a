"""Live objects as the planner keeps them: reduced to what the diff reads, equal field sets shared. The
transport against a hostile network: answers that hang, connections cut after the request, a proxy's pages. And a
kubeconfig the client cannot read is one error naming it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import urllib3
from kubernetes.client import ApiClient, Configuration

from controlplane.diffing import managed_diff
from reconciler.backends import kubernetes_answers
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes import BY_KIND
from reconciler.backends.kubernetes_answers import HttpError, Unanswered
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backends.kubernetes_objects import live_object

ROLE_BINDING = BY_KIND[("rbac.authorization.k8s.io/v1", "RoleBinding")]


def _listed(namespace: str, version: str, subject: str) -> dict[str, Any]:
    """A RoleBinding as a LIST item: no apiVersion or kind, mlcp's entry with its own write time."""
    fields = {
        "f:metadata": {"f:labels": {"f:app.kubernetes.io/managed-by": {}}},
        "f:roleRef": {},
        "f:subjects": {},
    }
    return {
        "metadata": {
            "name": "mlcp-edit",
            "namespace": namespace,
            "uid": f"uid-{namespace}",
            "resourceVersion": version,
            "labels": {"app.kubernetes.io/managed-by": "mlcp"},
            "managedFields": [
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields,
                    "manager": "mlcp",
                    "operation": "Apply",
                    "time": f"2026-11-30T10:00:0{version[-1]}Z",
                }
            ],
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": subject}],
    }


def _desired(namespace: str, subject: str) -> dict[str, Any]:
    item = _listed(namespace, "1", subject)
    del item["metadata"]["managedFields"], item["metadata"]["uid"], item["metadata"]["resourceVersion"]
    return {"apiVersion": ROLE_BINDING.api_version, "kind": ROLE_BINDING.kind, **item}


def test_objects_of_one_shape_share_one_field_set_and_keep_their_version() -> None:
    a = live_object(ROLE_BINDING, _listed("team-a", "11", "a@example.com"))
    b = live_object(ROLE_BINDING, _listed("team-b", "12", "b@example.com"))
    assert (a.version, b.version) == ("11", "12"), "the version survives the bookkeeping metadata dropped"
    assert a.manifest["metadata"]["managedFields"] is b.manifest["metadata"]["managedFields"]
    assert a.manifest["kind"] == "RoleBinding" and a.manifest["apiVersion"] == ROLE_BINDING.api_version
    assert "uid" not in a.manifest["metadata"]


def test_a_shared_field_set_still_finds_each_objects_own_drift() -> None:
    a = live_object(ROLE_BINDING, _listed("team-a", "11", "a@example.com"))
    b = live_object(ROLE_BINDING, _listed("team-b", "12", "intruder@example.com"))
    assert managed_diff(_desired("team-a", "a@example.com"), a.manifest) == []
    [drift] = managed_diff(_desired("team-b", "b@example.com"), b.manifest)
    assert drift.path == ("subjects",) and drift.old == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "intruder@example.com"}
    ]
    without_subjects = _desired("team-a", "a@example.com")
    del without_subjects["subjects"]
    [dropped] = managed_diff(without_subjects, a.manifest)
    assert dropped.path == ("subjects",) and dropped.new is None, "a field mlcp owns but no longer sets is removed"


def test_equal_names_and_label_values_of_different_objects_are_one_string_and_the_diff_is_unchanged() -> None:
    first, second = _listed("team-a", "11", "a@example.com"), _listed("team-a", "12", "a@example.com")
    first["metadata"]["labels"]["mlcp.dev/tenant"] = "".join(["team", "-a"])  # equal, not the same object
    second["metadata"]["labels"]["mlcp.dev/tenant"] = "".join(["team", "-", "a"])
    assert first["metadata"]["labels"]["mlcp.dev/tenant"] is not second["metadata"]["labels"]["mlcp.dev/tenant"]
    a, b = live_object(ROLE_BINDING, first), live_object(ROLE_BINDING, second)
    a_meta, b_meta = a.manifest["metadata"], b.manifest["metadata"]
    assert a_meta["labels"]["mlcp.dev/tenant"] is b_meta["labels"]["mlcp.dev/tenant"] is a_meta["namespace"]
    assert a_meta["name"] is b_meta["name"]
    assert a.ref.namespace is a_meta["namespace"], "the ref holds the shared string too"
    desired = _desired("team-a", "a@example.com")
    desired["metadata"]["labels"]["mlcp.dev/tenant"] = "team-a"
    assert managed_diff(desired, a.manifest) == []


def test_an_error_after_the_request_may_have_been_sent_is_unanswered_and_a_refused_connection_is_not() -> None:
    """A write whose answer was lost may have happened (Outcome.uncertain keeps its inventory record); a
    connection that never opened sent nothing."""
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 1)
    never_opened = urllib3.exceptions.NewConnectionError(pool.ConnectionCls("127.0.0.1", 1), "refused")
    assert not kubernetes_answers.unanswered(never_opened)
    assert not kubernetes_answers.unanswered(urllib3.exceptions.MaxRetryError(pool, "/", never_opened))
    assert not kubernetes_answers.unanswered(urllib3.exceptions.ConnectTimeoutError("connect timed out"))
    assert kubernetes_answers.unanswered(urllib3.exceptions.ReadTimeoutError(pool, "/", "read timed out"))
    assert kubernetes_answers.unanswered(urllib3.exceptions.ProtocolError("Connection aborted."))
    assert kubernetes_answers.HttpError(504, "Gateway Timeout", {}).uncertain
    assert not kubernetes_answers.HttpError(409, "Conflict", {}).uncertain


# -- the transport against a hostile network -----------------------------------------------------------------


class _Hostile(BaseHTTPRequestHandler):
    """Reads each request whole, notes when it came, then does `behave` to it: hang, hang up, answer garbage."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[float, str, str]]] = []
    behave: ClassVar[Callable[[BaseHTTPRequestHandler], None]]
    released = threading.Event()

    def _take(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Hostile.seen.append((time.monotonic(), self.command, self.path))
        type(self).behave(self)

    do_GET = do_POST = do_PATCH = do_DELETE = _take

    def log_message(self, format: str, *args: Any) -> None:
        return


def _hang(handler: BaseHTTPRequestHandler) -> None:
    _Hostile.released.wait(10)


def _hang_up(handler: BaseHTTPRequestHandler) -> None:
    """The request arrived (and may have been acted on); the connection is cut before any answer."""
    handler.connection.shutdown(socket.SHUT_RDWR)
    handler.close_connection = True


def _answer(
    status: int, body: bytes, headers: dict[str, str] | None = None
) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Type": "text/html", **(headers or {})}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


@pytest.fixture
def hostile() -> Iterator[KubeClient]:
    _Hostile.seen, _Hostile.behave = [], staticmethod(_hang)  # type: ignore[assignment]
    _Hostile.released.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield KubeClient(ApiClient(Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")))
    finally:
        _Hostile.released.set()
        server.shutdown()
        server.server_close()


def _behave(how: Callable[[BaseHTTPRequestHandler], None]) -> None:
    _Hostile.behave = staticmethod(how)  # type: ignore[assignment]


def test_a_fenced_delete_whose_answer_hangs_is_sent_once_and_ends_with_the_lease(hostile: KubeClient) -> None:
    # urllib3's pool retried a request without an answer 3 times, each with the read timeout worked out from the
    # lease's time left at the start: a deposed leader's DELETE was sent again 3 times after its lease ran out
    lease_ends = time.monotonic() + 0.5
    began = time.monotonic()
    with hostile.bounded(lambda: max(0.0, lease_ends - time.monotonic())), pytest.raises(Unanswered):
        hostile.request("DELETE", "/api/v1/namespaces/team-a/configmaps/x", body={"kind": "DeleteOptions"})
    assert [method for _, method, _ in _Hostile.seen] == ["DELETE"], "sent once"
    assert time.monotonic() - began < 0.9, "over when the lease's time is"


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_a_request_whose_connection_is_cut_after_it_arrived_is_unanswered_and_never_sent_again(
    hostile: KubeClient, method: str
) -> None:
    # a create sent again would be refused by its own first attempt (409 AlreadyExists), a delete with a
    # precondition by the object it deleted (404): reported as someone else's doing. Lost is lost: a pass retries
    _behave(_hang_up)
    with pytest.raises(Unanswered, match="no answer from the Kubernetes API"):
        hostile.request(method, "/api/v1/namespaces/team-a/configmaps", body={} if method != "GET" else None)
    assert len(_Hostile.seen) == 1


def test_a_refused_connection_sent_nothing_and_is_not_unanswered() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed when the block ends: nobody listens there
    client = KubeClient(ApiClient(Configuration(host=f"http://127.0.0.1:{port}")))
    with pytest.raises(BackendError, match="cannot reach the Kubernetes API") as raised:
        client.request("DELETE", "/api/v1/namespaces/team-a/configmaps/x", body={})
    assert not isinstance(raised.value, Unanswered)


def test_a_proxys_html_error_page_is_an_http_error_quoting_its_first_bytes_shown_safely(hostile: KubeClient) -> None:
    # a load balancer in front of the API server answers 502 with its own page, here with a terminal escape that
    # would erase the line above on an operator's screen; before, orjson's JSONDecodeError escaped every caller
    page = b"<html><body><h1>502 Bad Gateway</h1>\x1b[1A\x1b[2K" + b"<p>nginx</p>" * 100 + b"</body></html>"
    _behave(_answer(502, page))
    with pytest.raises(HttpError) as raised:
        hostile.request("PATCH", "/api/v1/namespaces/team-a", body={})
    error = raised.value
    assert error.status == 502 and error.uncertain, "a 5xx: the write may have happened behind the proxy"
    assert "not JSON" in str(error) and "<h1>502 Bad Gateway</h1>" in str(error)
    assert "\x1b" not in str(error) and "\\x1b[1A" in str(error), "the escape is shown, not obeyed"
    assert len(str(error)) < 400, "the first bytes, not the whole page"


def test_a_success_nobody_can_read_is_unanswered_since_the_write_may_have_happened(hostile: KubeClient) -> None:
    _behave(_answer(200, b"<html>Welcome! Please log in</html>"))
    with pytest.raises(Unanswered, match="HTTP 200 with a body that is not JSON: <html>Welcome! Please log in"):
        hostile.request("PATCH", "/api/v1/namespaces/team-a", body={})


def test_a_redirect_is_not_followed_with_the_body(hostile: KubeClient) -> None:
    # a proxy that redirects a DELETE elsewhere: urllib3 followed it and sent the request again
    _behave(_answer(307, b"", {"Location": "/api/v1/namespaces/kube-system/configmaps/x"}))
    with pytest.raises(HttpError) as raised:
        hostile.request("DELETE", "/api/v1/namespaces/team-a/configmaps/x", body={})
    assert raised.value.status == 307 and not raised.value.uncertain
    assert [path for _, _, path in _Hostile.seen] == ["/api/v1/namespaces/team-a/configmaps/x"]


def test_a_streamed_get_whose_connection_is_cut_is_not_sent_again(hostile: KubeClient) -> None:
    _behave(_hang_up)
    with pytest.raises(BackendError, match="cannot reach the Kubernetes API"):
        for _ in hostile.stream("/api/v1/configmaps", [("watch", "true")], 1.0):
            pass
    assert len(_Hostile.seen) == 1, "the watch cache starts it again itself, after its backoff"


def _throttled(times: int, retry_after: str | None) -> Callable[[BaseHTTPRequestHandler], None]:
    """Refused `times` times as the API server refuses a request it did not take (APF, storage initializing)."""
    status = b'{"kind":"Status","code":429,"reason":"TooManyRequests","message":"storage is (re)initializing"}'
    refused = _answer(
        429, status, {"Content-Type": "application/json", **({"Retry-After": retry_after} if retry_after else {})}
    )
    taken = _answer(200, b'{"metadata":{"resourceVersion":"9"}}', {"Content-Type": "application/json"})

    def answer(handler: BaseHTTPRequestHandler) -> None:
        (refused if len(_Hostile.seen) <= times else taken)(handler)

    return answer


def test_a_request_the_server_did_not_take_is_sent_again_when_it_says_so(hostile: KubeClient) -> None:
    # a CRD's storage initializing, or API Priority and Fairness, answers 429 with Retry-After: nothing was done,
    # and the server asks to come back (urllib3's default retry did this; the first integration runs after a CRD
    # install depend on it)
    _behave(_throttled(2, "0"))
    assert hostile.request("PATCH", "/api/v1/namespaces/team-a", body={}) == {"metadata": {"resourceVersion": "9"}}
    assert len(_Hostile.seen) == 3 and hostile.requests == 3


def test_a_throttled_request_without_retry_after_is_not_sent_again(hostile: KubeClient) -> None:
    _behave(_throttled(1, None))
    with pytest.raises(HttpError) as raised:
        hostile.request("PATCH", "/api/v1/namespaces/team-a", body={})
    assert raised.value.status == 429 and "storage is (re)initializing" in str(raised.value)
    assert len(_Hostile.seen) == 1


def test_a_hostile_retry_after_neither_holds_the_client_nor_outlives_the_lease(hostile: KubeClient) -> None:
    _behave(_throttled(10, "3600"))
    began = time.monotonic()
    with pytest.raises(HttpError):
        hostile.request("GET", "/api/v1/namespaces/team-a")
    assert time.monotonic() - began < 3 * kubernetes_answers.RETRY_AFTER_CAP + 1, "each wait capped"
    _Hostile.seen = []
    lease_ends = time.monotonic() + 0.5
    with hostile.bounded(lambda: max(0.0, lease_ends - time.monotonic())), pytest.raises(HttpError):
        hostile.request("DELETE", "/api/v1/namespaces/team-a/configmaps/x", body={})
    assert _Hostile.seen and all(at < lease_ends for at, _, _ in _Hostile.seen), "nothing sent after the lease"
    assert time.monotonic() - lease_ends < 0.3


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"a: [\n", "ParserError: while parsing a flow node"),
        (b"\xff\xfe\x00", "UnicodeDecodeError"),
        (b"- 1\n- 2\n", "TypeError"),
        (b"contexts: 5\ncurrent-context: a\n", "TypeError"),
        (b"apiVersion: v1\nclusters: [{name: c, cluster: {server: 5}}]\ncontexts: [{name: a, context: {cluster: c, "
         b"user: u}}]\nusers: [{name: u, user: {token: t}}]\ncurrent-context: a\n", "AttributeError"),
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "RecursionError"),
    ],
    ids=["not-yaml", "not-utf8", "a-list", "contexts-a-number", "server-a-number", "nested-deeply"],
)  # fmt: skip
def test_a_kubeconfig_of_another_shape_is_a_backend_error_naming_it(tmp_path: Path, content: bytes, said: str) -> None:
    """The official client reads the file as it finds it: only its ConfigException and OSError were caught, so a
    kubeconfig that is no YAML, no UTF-8 or a YAML list ended every command with a traceback."""
    path = tmp_path / "kubeconfig"
    path.write_bytes(content)
    with pytest.raises(BackendError) as refused:
        KubeClient.from_kubeconfig(str(path), None, "mlcp-system")
    assert f"cannot load kubeconfig {path}: it is not a kubeconfig (" in str(refused.value)
    assert said in str(refused.value)
