"""One HTTP/1.1 request and its answer on a kept-alive connection, framed by h11 on urllib3's TLS connections.

Why: a first `mlcp apply` at 10,000 tenants is 70,000 small server-side applies, and on two cores every
millisecond of the client's CPU is taken from the API server. Most of a write's client CPU was urllib3's and
http.client's Python around the bytes (the pool's bookkeeping, a response object with decoders, every header
parsed by the email package): ~0.33 ms per write, against ~0.15 ms for the same request and answer framed by h11,
the sans-I/O HTTP/1.1 library of the python-hyper project (docs/performance.md, session 17).

What stays urllib3's: the connection. Each is made by the API server's pool (`_new_conn`, `connect`): the
kubeconfig's CA, client certificate and key, hostname check and TLS settings exactly as before, so what is
trusted and which credentials are sent do not change. h11 writes the request and reads the answer (status line,
headers, Content-Length or chunked bodies, keep-alive); mlcp adds only what fails closed around it:

- a request goes out as one write (head and body); a method, path or header value h11 refuses (a line end, a
  control byte, a non-ASCII byte) is `Unsafe` and nothing is sent (a header value never carries a second header);
- an answer h11 refuses, an interim (1xx) answer nobody asked for, more than MAX_HEADERS headers or MAX_HEAD bytes
  of head, both Transfer-Encoding and Content-Length (RFC 9112 6.3: a sign of response splitting), or a content
  encoding nobody asked for is `Lost` (the request may have been acted on), and the connection is closed;
- a connection is reused only when h11 says both sides are done and nothing follows the answer, and an idle one
  the server closed (or that holds bytes nobody asked for) is dropped before reuse, as urllib3 did, so a request
  is never written where its answer cannot come back.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Mapping
from typing import NamedTuple

import h11
import urllib3
from urllib3.connection import HTTPConnection
from urllib3.util import parse_url
from urllib3.util.wait import wait_for_read

MAX_HEAD = 65536
"""Bytes of an answer's status line and headers (http.client's line limit; the API server sends ~300)."""
MAX_HEADERS = 100
"""Header lines of an answer (http.client's limit)."""
_READ = 65536


class Unsent(Exception):
    """Nothing was sent: the connection could not be made, or the request could not be written as asked."""


class Unsafe(Unsent):
    """Nothing was sent: the request line or a header holds a byte that would end it early."""


class Lost(Exception):
    """The request was sent, or may have been, and no whole answer came back: it may have been acted on."""


class Answer(NamedTuple):
    status: int
    reason: str
    headers: Mapping[str, str]
    """Lower-case names; a repeated header's values joined with ", " (only Retry-After is read)."""
    body: bytes


class Exchanges:
    """Requests to one API server over kept-alive connections that its urllib3 pool makes (never through a proxy)."""

    def __init__(self, pool: urllib3.HTTPConnectionPool, prefix: str, size: int) -> None:
        self._pool = pool
        self._prefix = prefix
        self._size = size
        self._idle: list[HTTPConnection] = []
        self._lock = threading.Lock()
        url = parse_url(f"{pool.scheme}://{pool.host}")
        default = 443 if pool.scheme == "https" else 80
        host = f"[{url.host}]" if url.host and ":" in url.host else str(url.host)
        self._host = host if pool.port in (None, default) else f"{host}:{pool.port}"

    def send(
        self, method: str, url: str, payload: bytes | None, headers: Mapping[str, str], timeout: tuple[float, float]
    ) -> Answer:
        """Send once and read the answer; `Unsent` when nothing left here, `Lost` when no whole answer came back."""
        framing = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        request = self._request(framing, method, self._prefix + url, payload, headers)
        conn = self._connection(timeout[0])
        keep = False
        try:
            sock = conn.sock
            if sock is None:  # pragma: no cover - connect() sets it or raises
                raise Unsent("no connection")
            sock.settimeout(timeout[1])
            try:
                sock.sendall(request)
            except OSError as exc:
                raise Lost(f"sending the request failed: {exc}") from None
            answer, keep = _read_answer(framing, sock)
            return answer
        finally:
            self._release(conn, keep)

    def _request(
        self, framing: h11.Connection, method: str, target: str, payload: bytes | None, headers: Mapping[str, str]
    ) -> bytes:
        """The request's bytes as h11 writes them, with a Host, `Accept-Encoding: identity` (as http.client sent)
        and the body's length; `Unsafe` for anything h11 will not write."""
        fields = [("Host", self._host), ("Accept-Encoding", "identity"), *headers.items()]
        if payload is not None or method in ("POST", "PUT", "PATCH"):
            fields.append(("Content-Length", str(len(payload or b""))))
        if not target.startswith("/"):
            raise Unsafe(f"refusing to send a request to {target!r}: not a path")
        try:
            out = framing.send(h11.Request(method=method, target=target, headers=fields)) or b""
            if payload:
                out += framing.send(h11.Data(data=payload)) or b""
            out += framing.send(h11.EndOfMessage()) or b""
        except (h11.LocalProtocolError, UnicodeEncodeError) as exc:
            raise Unsafe(
                f"refusing to send {method} {target[:200]!r}: {exc} (a line end, a control or non-ASCII byte)"
            ) from None
        return out

    def _connection(self, connect_timeout: float) -> HTTPConnection:
        """An idle connection still open, else a new one made by urllib3 (TLS, certificates, hostname check)."""
        while True:
            with self._lock:
                idle = self._idle.pop() if self._idle else None
            if idle is None:
                break
            if idle.sock is not None and not _readable(idle.sock):
                return idle
            idle.close()  # closed by the server while idle, or holding bytes nobody asked for
        conn = self._pool._new_conn()
        if not isinstance(conn, HTTPConnection):  # pragma: no cover - a pool of another connection class
            raise Unsent(f"an unexpected connection class: {type(conn).__name__}")
        conn.timeout = connect_timeout
        try:
            conn.connect()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            conn.close()
            raise Unsent(str(exc)) from None
        sock = conn.sock
        alpn = sock.selected_alpn_protocol() if isinstance(sock, ssl.SSLSocket) else None
        if alpn not in (None, "http/1.1"):  # urllib3 offers only http/1.1; anything else is not what we frame
            conn.close()
            raise Unsent(f"the server chose {alpn!r}, not HTTP/1.1")
        return conn

    def _release(self, conn: HTTPConnection, keep: bool) -> None:
        if keep:
            with self._lock:
                if len(self._idle) < self._size:
                    self._idle.append(conn)
                    return
        conn.close()


def _readable(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server closed it, or sent what nobody asked for
    (bytes the TLS layer holds already decrypted count too)."""
    pending = getattr(sock, "pending", None)
    try:
        return bool(pending and pending()) or wait_for_read(sock, timeout=0.0)
    except (OSError, ValueError):
        return True


def _read_answer(framing: h11.Connection, sock: socket.socket) -> tuple[Answer, bool]:
    """The answer on `sock`, read by h11, and whether the connection may carry another request."""
    response: h11.Response | None = None
    body = bytearray()
    try:
        while True:
            event = framing.next_event()
            if event is h11.NEED_DATA:
                try:
                    framing.receive_data(sock.recv(_READ))
                except OSError as exc:  # a timeout, a reset, a TLS error
                    raise Lost(f"reading the answer failed: {exc}") from None
            elif isinstance(event, h11.InformationalResponse):  # no Expect sent, no upgrade asked for
                raise Lost(f"an interim answer (HTTP {event.status_code}) that was not asked for")
            elif isinstance(event, h11.Response):
                response = event
                _check(event)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:  # ConnectionClosed (or PAUSED) before the answer's end
                raise Lost("the connection closed before the answer's end")
    except h11.RemoteProtocolError as exc:
        raise Lost(f"an answer not framed as HTTP/1.1: {exc}") from None
    if response is None:  # pragma: no cover - h11 yields a Response before any body or its end
        raise Lost("no answer's head")
    headers: dict[str, str] = {}
    for name, value in response.headers:
        key, text = name.decode("ascii"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    extra, _ = framing.trailing_data
    keep = framing.our_state is h11.DONE and framing.their_state is h11.DONE and not extra
    return Answer(response.status_code, response.reason.decode("latin-1"), headers, bytes(body)), keep


def _check(response: h11.Response) -> None:
    """Refuse what h11 takes but the API server never sends (`Lost`)."""
    if response.http_version not in (b"1.1", b"1.0"):  # pragma: no cover - h11 reads only HTTP/1.x
        raise Lost(f"an HTTP/{response.http_version.decode()} answer")
    if len(response.headers) > MAX_HEADERS:
        raise Lost(f"an answer with more than {MAX_HEADERS} headers")
    names = {name for name, _ in response.headers}
    if b"transfer-encoding" in names and b"content-length" in names:
        raise Lost("an answer framed both by Transfer-Encoding and Content-Length")
    for name, value in response.headers:
        if name == b"content-encoding" and value.lower() != b"identity":
            raise Lost(f"an answer in {value.decode('latin-1')[:40]!r}, which was not asked for")
