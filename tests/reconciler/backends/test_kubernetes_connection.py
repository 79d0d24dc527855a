"""A request's head and body leave in one write, and the server reads the same request as before."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from kubernetes.client import ApiClient, Configuration

from reconciler.backends import kubernetes_connection
from reconciler.backends.kubernetes_client import APPLY_PATCH, KubeClient


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every request of a test shares one connection
    seen: ClassVar[list[tuple[str, str, str, bytes]]] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.command, self.path, str(self.headers.get("Content-Type")), body))
        answer = json.dumps({"metadata": {"resourceVersion": str(len(self.seen))}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def client() -> Iterator[KubeClient]:
    _Echo.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configuration = Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield KubeClient(ApiClient(configuration))
    finally:
        server.shutdown()
        server.server_close()


def _count_writes(monkeypatch: pytest.MonkeyPatch, port: int) -> list[bytes]:
    """The writes sent to the test's server only: a thread another test left behind may be talking to the
    session's API server through the same (patched) class meanwhile."""
    writes: list[bytes] = []
    send = http.client.HTTPConnection.send

    def counted(self: http.client.HTTPConnection, data: Any) -> None:
        if self.port == port:
            writes.append(bytes(data))
        send(self, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", counted)
    return writes


def test_a_write_is_one_send_per_request_and_the_server_reads_it_whole(
    client: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _count_writes(monkeypatch, int(str(client.api.configuration.host).rsplit(":", 1)[1]))
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ns"}}
    for n in range(3):  # one connection, reused: nothing held from one request leaks into the next
        answer = client.server_side_apply(f"/api/v1/namespaces/ns/configmaps/a{n}", body, "mlcp")
        assert answer["metadata"]["resourceVersion"] == str(n + 1)
    assert client.get_or_none("/api/v1/namespaces/ns") is not None
    client.request("DELETE", "/api/v1/namespaces/ns/configmaps/a0", body={"kind": "DeleteOptions"})

    assert len(writes) == 5, "one write per request, head and body together"
    assert all(w.endswith(b"}") for i, w in enumerate(writes) if i != 3), "the bodies end the writes"
    assert client.requests == 5
    assert [(m, p.split("?")[0], t) for m, p, t, _ in _Echo.seen] == [
        ("PATCH", "/api/v1/namespaces/ns/configmaps/a0", APPLY_PATCH),
        ("PATCH", "/api/v1/namespaces/ns/configmaps/a1", APPLY_PATCH),
        ("PATCH", "/api/v1/namespaces/ns/configmaps/a2", APPLY_PATCH),
        ("GET", "/api/v1/namespaces/ns", "application/json"),
        ("DELETE", "/api/v1/namespaces/ns/configmaps/a0", "application/json"),
    ]
    assert [json.loads(b) for _, _, _, b in _Echo.seen[:3]] == [body] * 3
    assert _Echo.seen[3][3] == b""


def test_a_pool_of_another_connection_class_is_left_alone() -> None:
    import urllib3

    class Custom(urllib3.connection.HTTPSConnection):
        pass

    pool = urllib3.HTTPSConnectionPool("127.0.0.1", 1)
    pool.ConnectionCls = Custom
    kubernetes_connection.send_in_one_write(pool)
    assert pool.ConnectionCls is Custom
    plain = urllib3.HTTPConnectionPool("127.0.0.1", 1)
    kubernetes_connection.send_in_one_write(plain)
    assert plain.ConnectionCls is kubernetes_connection.OneWriteHTTPConnection
    tls = urllib3.HTTPSConnectionPool("127.0.0.1", 1)
    kubernetes_connection.send_in_one_write(tls)
    assert tls.ConnectionCls is kubernetes_connection.OneWriteHTTPSConnection
