"""One HTTP/1.1 request and its answer on a kept-alive connection, framed by mlcp, on urllib3's TLS connections.

Why: a first `mlcp apply` at 10,000 tenants is 70,000 small server-side applies, and on two cores every
millisecond of the client's CPU is taken from the API server. Most of a write's client CPU was urllib3's and
http.client's Python around the bytes (the pool's bookkeeping, a response object with decoders, every header
parsed by the email package): ~0.33 ms per write against ~0.10 ms for the same request and answer framed here
(docs/performance.md, session 17).

What stays urllib3's: the connection. Each is made by the API server's pool (`_new_conn`, `connect`): the
kubeconfig's CA, client certificate and key, hostname check and TLS settings exactly as before, so what is
trusted and which credentials are sent do not change. What is ours is only the framing, and it fails closed:

- a request goes out as one write (head and body), its method, path and header values checked for bytes that
  would end a line (a header value never carries a second header);
- the answer must be HTTP/1.x with its length known (Content-Length or chunked; neither: read to the close),
  its head within MAX_HEAD bytes and MAX_HEADERS lines, no content encoding (none is asked for); anything else
  is `Lost` (the request may have been acted on) and the connection is closed, never reused;
- an idle connection the server closed (or that holds bytes nobody asked for) is dropped before reuse, as
  urllib3 did, so a request is never written where its answer cannot come back.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
from collections.abc import Mapping
from typing import NamedTuple

import urllib3
from urllib3.connection import HTTPConnection
from urllib3.util import parse_url
from urllib3.util.wait import wait_for_read

MAX_HEAD = 65536
"""Bytes of an answer's status line and headers (http.client's line limit; the API server sends ~300)."""
MAX_HEADERS = 100
"""Header lines of an answer (http.client's limit)."""
_READ = 65536
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
"""What a method or a path must not hold: a space or a control byte would end the request line early."""
_UNSAFE_VALUE = re.compile(r"[\x00\r\n]")
"""What a header value must not hold: a line end would start a header of the value's choosing."""


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
        request = self._request(method, self._prefix + url, payload, headers)
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
            answer, keep = _read_answer(sock, head_only=method == "HEAD")
            return answer
        finally:
            self._release(conn, keep)

    def _request(self, method: str, target: str, payload: bytes | None, headers: Mapping[str, str]) -> bytes:
        if _UNSAFE.search(method) or _UNSAFE.search(target) or not target.startswith("/"):
            raise Unsafe(f"refusing to send a request line with a space or a control character: {method} {target!r}")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host}", "Accept-Encoding: identity"]  # as http.client
        for name, value in headers.items():
            if _UNSAFE.search(name) or ":" in name or _UNSAFE_VALUE.search(value):
                raise Unsafe(f"refusing to send header {name!r}: a line end or a control character in it")
            lines.append(f"{name}: {value}")
        if payload is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(payload or b'')}")
        try:
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        except UnicodeEncodeError:
            raise Unsafe("refusing to send a header that is not Latin-1 (HTTP/1.1 headers are bytes)") from None
        return head + payload if payload else head

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


def _digits(text: str, most: int) -> bool:
    """ASCII digits only, at most `most` of them (`str.isdigit` also takes "²", which `int` refuses)."""
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


def _read_answer(sock: socket.socket, *, head_only: bool) -> tuple[Answer, bool]:
    """The answer on `sock`, and whether the connection may carry another request."""
    reader = _Reader(sock)
    status_line, header_lines = reader.head()
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0") or not _digits(parts[1], 3):
        raise Lost(f"not an HTTP/1.x answer: {status_line[:80]!r}")
    status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
    if status < 200:  # no Expect was sent and no upgrade asked for: an interim answer is not this request's
        raise Lost(f"an interim answer (HTTP {status}) that was not asked for")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or _UNSAFE.search(name):
            raise Lost(f"a malformed header line: {line[:80]!r}")
        key, value = name.lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if headers.get("content-encoding", "identity").lower() != "identity":
        raise Lost(f"an answer in {headers['content-encoding']!r}, which was not asked for")
    keep = parts[0] == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
    transfer = headers.get("transfer-encoding")
    if head_only or status in (204, 304):
        body = b""
    elif transfer is not None:
        if transfer.lower() != "chunked" or "content-length" in headers:
            raise Lost(f"an answer framed as {transfer!r} (with Content-Length: {headers.get('content-length')})")
        body = reader.chunked()
    elif "content-length" in headers:
        length = headers["content-length"]
        if not _digits(length, 19):  # also refuses two lengths joined with ", "
            raise Lost(f"an answer with Content-Length {length[:40]!r}")
        body = reader.exactly(int(length))
    else:
        body, keep = reader.to_close(), False
    return Answer(status, reason, headers, body), keep and not reader.extra


class _Reader:
    """Reads an answer from a socket in large pieces; a short read or a timeout is `Lost`."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()

    @property
    def extra(self) -> bool:
        """Bytes after the answer: not any request's, so the connection must not be reused."""
        return bool(self._buf)

    def _more(self) -> bool:
        try:
            data = self._sock.recv(_READ)
        except OSError as exc:  # a timeout, a reset, a TLS error
            raise Lost(f"reading the answer failed: {exc}") from None
        self._buf += data
        return bool(data)

    def head(self) -> tuple[str, list[str]]:
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buf) > MAX_HEAD:
                raise Lost(f"an answer's head longer than {MAX_HEAD} bytes")
            if not self._more():
                raise Lost("the connection closed before the answer's head")
        if end > MAX_HEAD:
            raise Lost(f"an answer's head longer than {MAX_HEAD} bytes")
        lines = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        if len(lines) - 1 > MAX_HEADERS:
            raise Lost(f"an answer with more than {MAX_HEADERS} headers")
        return lines[0], lines[1:]

    def exactly(self, length: int) -> bytes:
        while len(self._buf) < length:
            if not self._more():
                raise Lost(f"the connection closed {length - len(self._buf)} bytes before the answer's end")
        body = bytes(self._buf[:length])
        del self._buf[:length]
        return body

    def _line(self) -> str:
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                break
            if len(self._buf) > MAX_HEAD:
                raise Lost("a chunk's size line longer than any the API server sends")
            if not self._more():
                raise Lost("the connection closed inside a chunked answer")
        line = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 2]
        return line

    def chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = self._line().split(";", 1)[0].strip()
            if not size or len(size) > 16 or any(c not in "0123456789abcdefABCDEF" for c in size):
                raise Lost(f"a malformed chunk size: {size[:40]!r}")
            length = int(size, 16)
            if length == 0:
                break
            body += self.exactly(length)
            if self.exactly(2) != b"\r\n":
                raise Lost("a chunk not followed by its line end")
        for _ in range(MAX_HEADERS + 1):  # trailers, up to the empty line
            if not self._line():
                return bytes(body)
        raise Lost(f"an answer with more than {MAX_HEADERS} trailers")

    def to_close(self) -> bytes:
        while self._more():
            pass
        body = bytes(self._buf)
        self._buf.clear()
        return body
