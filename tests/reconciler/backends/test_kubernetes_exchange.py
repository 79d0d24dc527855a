"""mlcp's own HTTP/1.1 framing on urllib3's connections: what it sends, what answers it takes, what it refuses.

The server here is a raw socket that answers with the exact bytes each test chooses, as a broken proxy or a
confused server could; the framing must read the API server's real answers (integration tests) and fail closed on
anything else: `Unanswered` (the write may have happened), the connection never reused.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kubernetes.client import ApiClient, Configuration

from devenv.pki import Pki
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_answers import Unanswered
from reconciler.backends.kubernetes_client import APPLY_PATCH, KubeClient
from reconciler.backends.kubernetes_exchange import MAX_HEAD


class Closing(bytes):
    """An answer after which the server closes the connection (without saying so)."""


Script = Callable[[int, bytes], bytes | None]
"""What the server answers to its n-th request (head and body as received): the bytes, or None to hang up."""


class RawServer:
    """Reads each request whole (head, then Content-Length bytes) and writes the script's bytes back."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.peers: list[Any] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
                self.peers.append(conn.getpeercert())
            self.connections += 1
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(buf) < length:
                    buf += conn.recv(65536)
                body, buf = buf[:length], buf[length:]
                self.requests.append(head + b"\r\n\r\n" + body)
                answer = self.script(len(self.requests), head + b"\r\n\r\n" + body)
                if answer is None:
                    return
                conn.sendall(answer)
                if isinstance(answer, Closing):
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.listener.close()


def _json(status: int, data: dict[str, Any], extra: str = "") -> bytes:
    body = orjson.dumps(data)
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _ok(n: int, request: bytes) -> bytes:
    return _json(200, {"metadata": {"resourceVersion": str(n)}})


@pytest.fixture
def serve() -> Iterator[Callable[[Script], tuple[RawServer, KubeClient]]]:
    servers: list[RawServer] = []

    def start(script: Script) -> tuple[RawServer, KubeClient]:
        server = RawServer(script)
        servers.append(server)
        return server, KubeClient(ApiClient(Configuration(host=f"http://127.0.0.1:{server.port}")))

    yield start
    for server in servers:
        server.close()


BODY = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ns"}}


def test_a_request_is_one_write_on_one_kept_alive_connection_and_the_server_reads_it_whole(
    serve: Callable[[Script], tuple[RawServer, KubeClient]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, client = serve(_ok)
    writes: list[bytes] = []
    sendall = socket.socket.sendall

    def counted(self: socket.socket, data: Any, *args: Any) -> None:
        if self.getpeername()[1] == server.port:
            writes.append(bytes(data))
        sendall(self, data, *args)

    monkeypatch.setattr(socket.socket, "sendall", counted)
    for n in range(3):
        assert client.server_side_apply(f"/api/v1/namespaces/ns/configmaps/a{n}", BODY, "mlcp") == {
            "metadata": {"resourceVersion": str(n + 1)}
        }
    assert client.get_or_none("/api/v1/namespaces/ns") == {"metadata": {"resourceVersion": "4"}}
    client.request("DELETE", "/api/v1/namespaces/ns/configmaps/a0", body={"kind": "DeleteOptions"})

    assert len(writes) == 5 and writes == server.requests, "one write per request, head and body together"
    assert server.connections == 1, "kept alive"
    heads = [r.split(b"\r\n\r\n")[0].decode().split("\r\n") for r in server.requests]
    assert heads[0][0].startswith("PATCH /api/v1/namespaces/ns/configmaps/a0?fieldManager=mlcp&force=false")
    assert f"Content-Type: {APPLY_PATCH}" in heads[0] and f"Host: 127.0.0.1:{server.port}" in heads[0]
    assert heads[3][0] == "GET /api/v1/namespaces/ns HTTP/1.1" and not any("Content-Length" in h for h in heads[3])
    assert [orjson.loads(r.split(b"\r\n\r\n", 1)[1]) for r in server.requests[:3]] == [BODY] * 3


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'6;ext=1\r\n{"meta\r\n1e\r\ndata":{"resourceVersion":"7"}}\r\n0\r\nX-Trailer: t\r\n\r\n',
            id="chunked, with an extension and a trailer",
        ),
        pytest.param(_json(200, {"metadata": {"resourceVersion": "7"}}), id="Content-Length"),
        pytest.param(
            Closing(b'HTTP/1.0 200 OK\r\n\r\n{"metadata":{"resourceVersion":"7"}}'), id="HTTP/1.0, read to the close"
        ),
    ],
)
def test_each_framing_the_api_server_uses_is_read_and_the_connection_reused_only_when_it_may_be(
    serve: Callable[[Script], tuple[RawServer, KubeClient]], answer: bytes
) -> None:
    server, client = serve(lambda n, _: answer if n == 1 else _ok(n, b""))
    assert client.request("GET", "/api/v1/namespaces/ns") == {"metadata": {"resourceVersion": "7"}}
    assert client.request("GET", "/api/v1/namespaces/ns") == {"metadata": {"resourceVersion": "2"}}
    assert server.connections == (2 if answer.startswith(b"HTTP/1.0") else 1)


BROKEN = [
    pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", id="not HTTP"),
    pytest.param(b"HTTP/2 200\r\n\r\n", id="another version"),
    pytest.param(b"HTTP/1.1 100 Continue\r\n\r\n" + _json(200, {}), id="an interim answer nobody asked for"),
    pytest.param(Closing(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}"), id="cut short"),
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", id="two lengths"),
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}", id="a negative length"),
    pytest.param(
        "HTTP/1.1 2\u00b20 OK\r\nContent-Length: 2\r\n\r\n{}".encode("latin-1"), id="a status digit int refuses"
    ),
    pytest.param("HTTP/1.1 200 OK\r\nContent-Length: \u00b2\r\n\r\n{}".encode("latin-1"), id="a length int refuses"),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        id="chunked and a length",
    ),
    pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", id="an unknown transfer coding"),
    pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", id="a bad chunk size"),
    pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n", id="a chunk overrun"),
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}", id="compressed"),
    pytest.param(b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 2\r\n\r\n{}", id="a header without a colon"),
    pytest.param(b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * (MAX_HEAD + 10), id="an endless head"),
    pytest.param(b"HTTP/1.1 200 OK\r\n" + b"X: a\r\n" * 101 + b"Content-Length: 2\r\n\r\n{}", id="too many headers"),
    pytest.param(None, id="hung up"),
]


@pytest.mark.parametrize("answer", BROKEN)
def test_an_answer_not_framed_as_the_api_server_frames_it_is_unanswered_and_its_connection_never_reused(
    serve: Callable[[Script], tuple[RawServer, KubeClient]], answer: bytes | None
) -> None:
    server, client = serve(lambda n, _: answer if n == 1 else _ok(n, b""))
    with pytest.raises(Unanswered, match="no answer from the Kubernetes API"):
        client.server_side_apply("/api/v1/namespaces/ns/configmaps/a", BODY, "mlcp")
    assert len(server.requests) == 1, "a write whose answer was lost is never sent again"
    assert client.request("GET", "/api/v1/namespaces/ns") == {"metadata": {"resourceVersion": "2"}}
    assert server.connections == 2, "the next request is on a new connection"


def test_bytes_after_an_answer_close_its_connection(serve: Callable[[Script], tuple[RawServer, KubeClient]]) -> None:
    # a second answer nobody asked for would be read as the next request's: a write attributed another's outcome
    server, client = serve(lambda n, _: _ok(n, b"") + (_json(200, {"forged": True}) if n == 1 else b""))
    assert client.request("GET", "/a") == {"metadata": {"resourceVersion": "1"}}
    assert client.request("GET", "/b") == {"metadata": {"resourceVersion": "2"}}
    assert server.connections == 2


def test_a_connection_the_server_closed_while_idle_is_not_written_to(
    serve: Callable[[Script], tuple[RawServer, KubeClient]],
) -> None:
    # the API server closes idle keep-alive connections; a write sent on one would be lost, answer and all
    server, client = serve(lambda n, _: Closing(_ok(n, b"")) if n == 1 else _ok(n, b""))
    assert client.request("GET", "/a") == {"metadata": {"resourceVersion": "1"}}
    time.sleep(0.2)  # the server's close arrives while the connection is idle
    assert client.request("PATCH", "/b", body={}) == {"metadata": {"resourceVersion": "2"}}
    assert len(server.requests) == 2 and server.connections == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Impersonate-User", "alice@x\r\nImpersonate-Group: system:masters"),
        ("Impersonate-User", "alice@x\nImpersonate-Group: system:masters"),
        ("Impersonate-User", "alice@x\x00"),
    ],
)
def test_a_header_value_that_would_start_another_header_is_refused_before_anything_is_sent(
    serve: Callable[[Script], tuple[RawServer, KubeClient]], name: str, value: str
) -> None:
    server, client = serve(_ok)
    with pytest.raises(BackendError, match="not sent to the Kubernetes API") as raised:
        client.request("PATCH", "/api/v1/namespaces/ns/configmaps/a", body={}, impersonate=value)
    assert not isinstance(raised.value, Unanswered)
    assert server.requests == [] and server.connections == 0


@pytest.mark.parametrize("path", ["/api/v1/namespaces/a b", "/api/v1/x\r\nHost: evil", "/api/v1/\x7f"])
def test_a_path_that_would_end_the_request_line_is_refused_before_anything_is_sent(
    serve: Callable[[Script], tuple[RawServer, KubeClient]], path: str
) -> None:
    server, client = serve(_ok)
    with pytest.raises(BackendError, match="not sent"):
        client.request("GET", path)
    assert server.requests == []


# -- TLS: the connection is still urllib3's, with the kubeconfig's CA and client certificate -------------------


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pki, Pki]:
    return Pki(tmp_path_factory.mktemp("trusted")), Pki(tmp_path_factory.mktemp("other"))


def _tls_server(pki: Pki) -> RawServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving = pki.serving()
    context.load_cert_chain(serving.cert_file, serving.key_file)
    context.load_verify_locations(pki.ca.cert_file)
    context.verify_mode = ssl.CERT_REQUIRED  # as the API server asks for the client's certificate
    return RawServer(_ok, tls=context)


def _tls_client(port: int, ca: Path, cert: Path, key: Path) -> KubeClient:
    configuration = Configuration(host=f"https://127.0.0.1:{port}")
    configuration.ssl_ca_cert, configuration.cert_file, configuration.key_file = str(ca), str(cert), str(key)
    return KubeClient(ApiClient(configuration))


def test_over_tls_the_server_is_verified_against_the_kubeconfigs_ca_and_sees_its_client_certificate(
    pkis: tuple[Pki, Pki],
) -> None:
    trusted, other = pkis
    server = _tls_server(trusted)
    try:
        user = trusted.client("mlcp-admin", ("system:masters",))
        client = _tls_client(server.port, trusted.ca.cert_file, user.cert_file, user.key_file)
        assert client.server_side_apply("/api/v1/namespaces/ns", BODY, "mlcp") == {"metadata": {"resourceVersion": "1"}}
        subject = dict(item for rdn in server.peers[0]["subject"] for item in rdn)
        assert subject["commonName"] == "mlcp-admin", "the kubeconfig's client certificate"

        impostor = _tls_server(other)  # a server whose certificate another CA signed
        try:
            fooled = _tls_client(impostor.port, trusted.ca.cert_file, user.cert_file, user.key_file)
            with pytest.raises(
                BackendError, match=r"cannot reach the Kubernetes API.*CERTIFICATE_VERIFY_FAILED"
            ) as raised:
                fooled.server_side_apply("/api/v1/namespaces/ns", BODY, "mlcp")
            assert not isinstance(raised.value, Unanswered), "nothing was sent"
            assert impostor.requests == []
        finally:
            impostor.close()
    finally:
        server.close()
