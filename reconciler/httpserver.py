"""The controller's HTTP listeners: /metrics, /healthz, /readyz and POST /webhook, hardened for a hostile network.

The server is waitress (the Pylons project's pure-Python WSGI server,
maintained since 2011, no dependencies of its own). It replaced the stdlib's
thread-per-connection `http.server` because its design answers most threats
by itself: one asynchronous loop reads each request in full before a worker
sees it, so a slow or stalled client never holds one of the fixed pool of
worker threads (`threads`); open connections are capped (`connection_limit`:
beyond it new ones wait in the bounded listen backlog until one closes);
silent connections are closed (`channel_timeout`); a Content-Length that is
not plain digits (a negative one) gets 400 (so does one of more digits than
Python converts: `_Parser`) and a body over
`max_request_body_size` 413, before the body is read. Its request parser has
had years of scrutiny for smuggling bugs, which hand-written code has not.

Two things are added here. A total deadline per connection (`read_timeout`),
because an idle timeout alone lets a client keep a request open forever by
sending a byte now and then (slow loris); `_Server.maintenance` enforces it
with waitress 3's own channel bookkeeping (the real-socket tests fail if a
waitress release changes that). And separate listeners: `--webhook-listen`
puts the webhook, which must face the forge, on its own address and pool,
while metrics and probes stay on the pod network, each out of the other's
reach. Every answer has a short generic body; waitress's own log lines go
through the JSON logger, where credentials are redacted like everywhere else.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import TcpWSGIServer

from controlplane import digits
from reconciler import logs, registryhook, webhook
from reconciler.metrics import Metrics

Probe = Callable[[], tuple[bool, str]]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
_REASONS = {
    200: "OK",
    202: "Accepted",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    503: "Service Unavailable",
}
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class HttpSettings:
    """Limits of every listener (flags of `mlcp reconcile`; see docs/operations.md)."""

    max_body: int = 1024 * 1024
    """Largest request body; GitHub push payloads are a few KB (their commit list stops at 20)."""
    read_timeout: float = 10.0
    """Longest a connection may stay open without a request in progress (cuts off slow-loris clients)."""
    idle_timeout: float = 5.0
    """Longest a connection may stay silent."""
    threads: int = 4
    connections: int = 64
    replay_window: float = 24 * 3600.0
    """How long a delivery is remembered (a forge's "redeliver" button works for days)."""
    replay_entries: int = 10_000


@dataclass
class Endpoints:
    metrics: Metrics
    healthy: Probe
    ready: Probe
    on_push: Callable[[], None]
    secret: bytes | None
    branch: str
    settings: HttpSettings = field(default_factory=HttpSettings)
    registry_secret: bytes = field(default_factory=lambda: secrets.token_urlsafe(32).encode())
    """The secret MLflow signs registry webhooks with (mlcp gives it to MLflow); by default one nobody knows."""
    hook: webhook.Hook = field(init=False)
    registry_hook: registryhook.RegistryHook = field(init=False)
    requests: Counter = field(init=False)

    def __post_init__(self) -> None:
        deliveries = webhook.Deliveries(self.settings.replay_window, self.settings.replay_entries)
        self.hook = webhook.Hook(self.secret, self.branch, self.on_push, deliveries, self.settings.max_body)
        seen = webhook.Deliveries(self.settings.replay_window, self.settings.replay_entries)
        self.registry_hook = registryhook.RegistryHook(self.registry_secret, self.on_push, seen, self.settings.max_body)
        self.requests = Counter(
            "mlcp_http_requests",
            "HTTP requests by endpoint and status (403: bad signature, 409: replayed delivery).",
            ["endpoint", "status"],
            registry=self.metrics.registry,
        )


def _route(endpoints: Endpoints, path: str, method: str, environ: dict[str, Any]) -> tuple[int, bytes, str]:
    if path == "/webhook":
        status, body = webhook.handle(endpoints.hook, environ)
        return status, body, TEXT
    if path == registryhook.PATH:
        status, body = registryhook.handle(endpoints.registry_hook, environ)
        return status, body, TEXT
    if method not in ("GET", "HEAD"):
        return 405, b"method not allowed\n", TEXT
    if path == "/metrics":
        return 200, endpoints.metrics.exposition(), "text/plain; version=0.0.4; charset=utf-8"
    ok, why = (endpoints.healthy if path == "/healthz" else endpoints.ready)()
    return (200 if ok else 503), (why or "ok").encode() + b"\n", TEXT


def application(endpoints: Endpoints, paths: frozenset[str]) -> WsgiApp:
    """A WSGI app serving `paths` (of /metrics, /healthz, /readyz, /webhook, /registry-webhook); else 404."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "/")
        method = str(environ.get("REQUEST_METHOD") or "")
        status, body, content_type = 404, b"not found\n", TEXT
        if path in paths:
            status, body, content_type = _route(endpoints, path, method, environ)
        endpoints.requests.labels(path if path in paths else "other", str(status)).inc()
        start_response(
            f"{status} {_REASONS[status]}", [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        )
        return [] if method == "HEAD" else [body]

    return app


PROBES = frozenset({"/metrics", "/healthz", "/readyz"})
WEBHOOK = frozenset({"/webhook", registryhook.PATH})


class _Parser(HTTPRequestParser):
    """waitress's request parser, with a header it cannot read answered 400 like any other malformed one.

    waitress checks that a Content-Length is digits, then calls `int()`, which refuses more than 4,300 of them
    (Python's guard against quadratic conversions) with a ValueError waitress does not catch: the connection
    was closed unanswered and every such request logged an error with its frames. Any ValueError from reading
    the header (its own checks raise ParsingError) is bad input, never a server fault."""

    def parse_header(self, header_plus: bytes) -> None:
        try:
            super().parse_header(header_plus)
        except ValueError as exc:  # int() is its only conversion of a header value: the Content-Length
            raise ParsingError("Content-Length is invalid") from exc


class _Channel(HTTPChannel):
    parser_class = _Parser


class _Server(TcpWSGIServer):
    """waitress's server with a total deadline per connection on top of its idle timeout."""

    channel_class = _Channel
    read_timeout = 10.0

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # type: ignore[arg-type] # closes silent connections (the stubs say int: time.time())
        cutoff = now - self.read_timeout
        channels: dict[int, Any] = self.active_channels  # type: ignore[assignment] # the stubs say one channel
        for channel in list(channels.values()):
            if not channel.requests and channel.creation_time < cutoff:
                channel.will_close = True  # no request in a worker's hands: a slow client, cut off


def _route_waitress_logs() -> None:
    """waitress logs through the JSON logger (and its redaction), warnings and worse only."""
    target = logging.getLogger("waitress")
    target.setLevel(logging.WARNING)
    target.propagate = False
    target.handlers = list(logs.get().handlers)


def address(listen: str) -> tuple[str, int]:
    """`host:port`, `[v6 address]:port` or `:port` (all interfaces) as a host and a port; ValueError saying what is
    wrong. Port 0 asks the system for a free one. A port past 65535 was taken modulo 65536 by the socket layer:
    `:70000` listened on 4464."""
    host, _, port = listen.rpartition(":")
    if not digits.is_digits(port, 10):
        raise ValueError(f"{listen!r} is not host:port or :port (a port is a number)")
    if int(port) > MAX_PORT:
        raise ValueError(f"{listen!r}: port {int(port)} is not between 1 and {MAX_PORT}")
    if "[" in host or "]" in host:
        if not (host.startswith("[") and host.endswith("]")) or "[" in host[1:] or "]" in host[:-1]:
            raise ValueError(f"{listen!r} is not host:port or [address]:port")
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


MAX_PORT = 65535


class HttpServer:
    """One listener in a daemon thread; `listen` is "host:port" or ":port" (all interfaces), as `address` reads it."""

    def __init__(self, listen: str, app: WsgiApp, settings: HttpSettings) -> None:
        host, port = address(listen)
        _route_waitress_logs()
        self.server = _Server(
            app,
            host=host,
            port=port,
            threads=settings.threads,
            connection_limit=settings.connections + 2,  # waitress counts its listening socket and wake-up pipe
            channel_timeout=settings.idle_timeout,
            cleanup_interval=max(0.2, min(settings.read_timeout, settings.idle_timeout) / 4),
            max_request_body_size=settings.max_body,
            max_request_header_size=64 * 1024,
            asyncore_loop_timeout=0.2,
            expose_tracebacks=False,
            ident="mlcp",
        )
        self.server.read_timeout = settings.read_timeout
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"mlcp-http-{port}", daemon=True)

    @property
    def port(self) -> int:
        bound: Any = self.server.socket
        return int(bound.getsockname()[1])

    def _serve(self) -> None:
        """The asynchronous loop, one turn at a time so that `stop` ends it from this very thread."""
        channels = self._channels()
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=0.2, map=channels, use_poll=True, count=1)
        finally:
            wasyncore.close_all(channels)
            self.server.task_dispatcher.shutdown()

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        elif self._thread.ident is None:  # never started: close the listening socket here
            wasyncore.close_all(self._channels())
            self.server.task_dispatcher.shutdown()

    def _channels(self) -> dict[int, Any]:
        channels: dict[int, Any] = self.server._map  # type: ignore[attr-defined] # waitress's socket map
        return channels


def listeners(endpoints: Endpoints, listen: str | None, webhook_listen: str | None) -> list[HttpServer]:
    """The listeners the flags ask for: `listen` serves everything unless the webhook has its own."""
    servers: list[HttpServer] = []
    if listen:
        paths = PROBES if webhook_listen else PROBES | WEBHOOK
        servers.append(HttpServer(listen, application(endpoints, paths), endpoints.settings))
    if webhook_listen:
        servers.append(HttpServer(webhook_listen, application(endpoints, WEBHOOK), endpoints.settings))
    return servers
