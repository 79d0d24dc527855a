"""The controller's HTTP surface under attack, over real sockets: malformed lengths, slow clients, floods, replays.

Each test starts real listeners on loopback ports and talks raw HTTP to them, as an attacker on the network would,
then checks what the attacker got back and that the loop was (or was not) asked for a pass.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from reconciler.httpserver import Endpoints, HttpServer, HttpSettings, address, listeners
from reconciler.metrics import Metrics

SECRET = b"s3cret"
FAST = HttpSettings(read_timeout=1.5, idle_timeout=1.0, threads=1, connections=3, max_body=64 * 1024)


def endpoints(on_push: Callable[[], None], settings: HttpSettings = FAST, secret: bytes | None = SECRET) -> Endpoints:
    return Endpoints(Metrics(), lambda: (True, "ok"), lambda: (True, "ok"), on_push, secret, "main", settings)


class Target:
    """Listeners on loopback ports and what the loop was asked for."""

    def __init__(self, settings: HttpSettings = FAST, separate: bool = False, secret: bytes | None = SECRET) -> None:
        self.pushes = 0
        self.endpoints = endpoints(self._push, settings, secret)
        self.servers: list[HttpServer] = listeners(self.endpoints, "127.0.0.1:0", "127.0.0.1:0" if separate else None)

    def _push(self) -> None:
        self.pushes += 1

    @property
    def port(self) -> int:
        return self.servers[0].port

    def send(self, data: bytes, port: int | None = None, wait: float = 5.0) -> bytes:
        """Send raw bytes, read until the server closes or `wait` passes."""
        with socket.create_connection(("127.0.0.1", port or self.port), timeout=wait) as conn:
            conn.sendall(data)
            return _read(conn, wait)


def _read(conn: socket.socket, wait: float) -> bytes:
    out = b""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            break
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


@contextmanager
def serving(settings: HttpSettings = FAST, separate: bool = False, secret: bytes | None = SECRET) -> Iterator[Target]:
    target = Target(settings, separate, secret)
    for server in target.servers:
        server.start()
    try:
        yield target
    finally:
        for server in target.servers:
            server.stop()


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


def body(response: bytes) -> bytes:
    return response.partition(b"\r\n\r\n")[2]


def request(path: str, payload: bytes = b"", headers: dict[str, str] | None = None, method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: mlcp", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if method == "POST" and not any(k.lower() == "content-length" for k in headers or {}):
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def push(delivery: str, after: str = "abc", secret: bytes = SECRET, event: str = "push") -> bytes:
    payload = json.dumps({"ref": "refs/heads/main", "after": after}).encode()
    signature = "sha256=" + hmac.new(secret, payload, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature}
    return request("/webhook", payload, headers)


def test_a_signed_push_asks_for_a_pass() -> None:
    with serving() as target:
        response = target.send(push("d-1"))
    assert (status(response), body(response)) == (202, b"accepted\n")
    assert target.pushes == 1


def test_a_negative_content_length_is_refused_without_reading_on() -> None:
    with serving() as target:
        began = time.monotonic()
        response = target.send(request("/webhook", b"{}", {"Content-Length": "-1"}))
        assert time.monotonic() - began < 1.0, "it must not wait for the end of the stream"
        assert status(target.send(request("/healthz", method="GET"))) == 200
    assert status(response) == 400
    assert target.pushes == 0


def test_a_missing_content_length_is_refused() -> None:
    raw = b"POST /webhook HTTP/1.1\r\nHost: mlcp\r\nConnection: close\r\n\r\n"
    with serving() as target:
        response = target.send(raw)
    assert (status(response), body(response)) == (411, b"length required\n")


def test_an_oversized_body_is_refused_before_it_is_sent() -> None:
    with serving() as target, socket.create_connection(("127.0.0.1", target.port), timeout=5) as conn:
        conn.sendall(request("/webhook", b"", {"Content-Length": str(10 * 1024 * 1024)}))  # headers only
        response = _read(conn, 3)
    assert status(response) == 413
    assert b"s3cret" not in response


def test_a_slow_loris_client_is_cut_off_and_never_holds_the_only_worker() -> None:
    with serving() as target:
        conn = socket.create_connection(("127.0.0.1", target.port), timeout=5)
        conn.sendall(b"POST /webhook HTTP/1.1\r\nHost: mlcp\r\n")
        began, cut = time.monotonic(), None
        answered: list[float] = []
        while time.monotonic() - began < 8:
            try:
                conn.sendall(b"X-Drip: 1\r\n")  # a header line every 0.2 s: never silent, never done
            except OSError:
                cut = time.monotonic() - began
                break
            if len(answered) < 3:
                start = time.monotonic()
                assert status(target.send(request("/healthz", method="GET"))) == 200
                answered.append(time.monotonic() - start)
            time.sleep(0.2)
        conn.close()
    assert cut is not None and cut < FAST.read_timeout + 2.0, f"still connected after {cut}s"
    assert max(answered) < 1.0, "the single worker answered others while the slow client dripped"
    assert target.pushes == 0


def test_connections_beyond_the_limit_wait_and_are_served_once_the_idle_ones_are_closed() -> None:
    with serving() as target:
        idle = [socket.create_connection(("127.0.0.1", target.port), timeout=5) for _ in range(FAST.connections)]
        for conn in idle:
            conn.sendall(b"GET /healthz HTTP/1.1\r\n")  # half a request each, then silence
        time.sleep(0.3)
        began = time.monotonic()
        late = target.send(request("/healthz", method="GET"), wait=10)
        waited = time.monotonic() - began
        for conn in idle:
            conn.close()
    assert status(late) == 200
    assert waited > 0.3, "the extra connection was served while the limit was reached"
    assert waited < FAST.read_timeout + 3.0


def test_a_replayed_delivery_is_refused_by_its_id_and_by_its_body() -> None:
    with serving() as target:
        first = target.send(push("d-1"))
        again = target.send(push("d-1"))
        renamed = target.send(push("d-2"))  # the same signed body under a new delivery ID
        fresh = target.send(push("d-3", after="def"))
    assert [status(r) for r in (first, again, renamed, fresh)] == [202, 409, 409, 202]
    assert target.pushes == 2


def test_wrong_signature_missing_secret_and_wrong_event_tell_an_outsider_nothing() -> None:
    with serving() as target:
        forged = target.send(push("d-1", secret=b"guess"))
        unsigned = target.send(request("/webhook", b"{}", {"X-GitHub-Event": "push"}))
        forged_ping = target.send(push("d-2", secret=b"guess", event="ping"))
    assert {(status(r), body(r)) for r in (forged, unsigned, forged_ping)} == {(403, b"forbidden\n")}
    with serving(secret=None) as unconfigured:
        response = unconfigured.send(push("d-1"))
    assert (status(response), body(response)) == (403, b"forbidden\n"), "no secret: the same answer, not a 404"
    assert target.pushes == unconfigured.pushes == 0


def test_other_methods_and_paths_get_generic_answers() -> None:
    with serving() as target:
        assert status(target.send(request("/metrics"))) == 405
        assert status(target.send(request("/webhook", method="GET"))) == 405
        missing = target.send(request("/../../etc/passwd", method="GET"))
        metrics = body(target.send(request("/metrics", method="GET")))
    assert (status(missing), body(missing)) == (404, b"not found\n")
    assert b'mlcp_http_requests_total{endpoint="/metrics",status="405"} 1.0' in metrics


def test_separate_listeners_serve_only_their_own_paths() -> None:
    with serving(separate=True) as target:
        probes, hooks = (server.port for server in target.servers)
        assert status(target.send(push("d-1"), port=probes)) == 404
        assert status(target.send(request("/metrics", method="GET"), port=hooks)) == 404
        assert status(target.send(push("d-2"), port=hooks)) == 202
        assert status(target.send(request("/readyz", method="GET"), port=probes)) == 200
    assert target.pushes == 1


def test_many_concurrent_pushes_are_each_answered_once() -> None:
    answers: list[int] = []
    with serving(HttpSettings(threads=2, connections=8)) as target:
        threads = [
            threading.Thread(target=lambda i=i: answers.append(status(target.send(push(f"d-{i}", after=str(i))))))
            for i in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(answers) == [202] * 20
    assert target.pushes == 20


@pytest.mark.parametrize("listen", ["not-an-address", "127.0.0.1:notaport"])
def test_an_unusable_address_is_a_clear_error(listen: str) -> None:
    with pytest.raises((OSError, ValueError)):
        listeners(endpoints(lambda: None), listen, None)


def test_an_address_in_use_is_an_error_not_a_second_listener() -> None:
    with serving() as target, pytest.raises(OSError):
        listeners(endpoints(lambda: None), f"127.0.0.1:{target.port}", None)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        (":8080", ("0.0.0.0", 8080)),
        ("8080", ("0.0.0.0", 8080)),
        ("127.0.0.1:65535", ("127.0.0.1", 65535)),
        ("[::1]:9443", ("::1", 9443)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
    ],
)
def test_an_address_is_read_as_host_and_port(listen: str, expected: tuple[str, int]) -> None:
    assert address(listen) == expected


@pytest.mark.parametrize(
    ("listen", "said"),
    [
        (":70000", "port 70000 is not between 1 and 65535"),
        (":65536", "port 65536 is not between 1 and 65535"),
        (":", "is not host:port or :port"),
        (":-1", "is not host:port or :port"),
        (":８０", "is not host:port or :port"),
        ("[::1", "is not host:port or [address]:port"),
        ("[::1]", "is not host:port or :port"),
    ],
)
def test_a_port_past_65535_or_no_port_is_refused_before_anything_binds(listen: str, said: str) -> None:
    """`:70000` listened on port 4464 (70000 modulo 65536): the operator exposed a port nothing served."""
    with pytest.raises(ValueError, match=re.escape(said)):
        address(listen)
    with pytest.raises(ValueError, match=re.escape(said)):
        listeners(endpoints(lambda: None), listen, None)


@pytest.mark.parametrize("digits", [4301, 5000, 60_000])
def test_a_content_length_of_more_digits_than_python_converts_is_refused_and_logs_no_error(
    digits: int, caplog: pytest.LogCaptureFixture
) -> None:
    """waitress checked the digits, then int() refused over 4,300 of them: no answer at all, and an error
    logged with its frames for each such request from anyone who can reach the webhook."""
    with serving() as target:
        response = target.send(request("/webhook", b"{}", {"Content-Length": "9" * digits}), wait=3)
        assert status(target.send(request("/healthz", method="GET"))) == 200
    assert status(response) == 400, response[:80]
    assert target.pushes == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text[:300]


def test_a_content_length_of_as_many_digits_as_python_converts_is_too_large() -> None:
    with serving() as target, socket.create_connection(("127.0.0.1", target.port), timeout=5) as conn:
        conn.sendall(request("/webhook", b"", {"Content-Length": "9" * 4300}))
        response = _read(conn, 3)
    assert status(response) == 413


def _hold_connections(port: int, stop: threading.Event) -> None:
    """A stranger who reaches the webhook: opens connections and drips a header line now and then."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
                while not stop.wait(0.4):
                    conn.sendall(b"X: 1\r\n")
        except OSError:
            continue


def test_probes_on_their_own_listener_are_answered_while_a_stranger_fills_the_webhooks() -> None:
    """As the shipped Deployment runs (--listen for the probes, --webhook-listen on the Service's port): the
    connections a stranger holds on the webhook listener never delay kubelet's probes (1 s timeout). On one
    listener, they waited in its backlog behind the stranger's (see test_deploy.py for the manifests)."""
    with serving(separate=True) as target:
        probes, hooks = (server.port for server in target.servers)
        stop = threading.Event()
        threads = [threading.Thread(target=_hold_connections, args=(hooks, stop), daemon=True) for _ in range(40)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        answered = [status(target.send(request("/healthz", method="GET"), port=probes, wait=1.0)) for _ in range(4)]
        stop.set()
    assert answered == [200] * 4
