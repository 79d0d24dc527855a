"""The controller's one small HTTP server: /metrics, /healthz, /readyz and POST /webhook.

A push webhook only says "look now": the pass still fetches the branch and
trusts nothing from the payload but the branch name. Even so a webhook must
prove it knows the shared secret — GitHub signs the body (HMAC-SHA256 in
X-Hub-Signature-256), GitLab sends the token itself (X-Gitlab-Token) — or
anyone could make the controller spin. Without a configured secret the
endpoint refuses every call. Comparisons are constant-time; bodies are
capped. The stdlib server in a thread is enough: a few requests a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reconciler import logs
from reconciler.metrics import Metrics

MAX_BODY = 10 * 1024 * 1024
Probe = Callable[[], tuple[bool, str]]


def verify(headers: Mapping[str, str], body: bytes, secret: bytes | None) -> tuple[bool, str]:
    """Whether a webhook call proves it knows `secret` (GitHub or GitLab style), and which it was."""
    if not secret:
        return False, "no webhook secret is configured"
    lower = {k.lower(): v for k, v in headers.items()}
    signature = lower.get("x-hub-signature-256")
    if signature is not None:
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.strip().encode(), expected.encode()), "github"
    token = lower.get("x-gitlab-token")
    if token is not None:
        return hmac.compare_digest(token.encode(), secret), "gitlab"
    return False, "no X-Hub-Signature-256 or X-Gitlab-Token header"


def pushed_branch(headers: Mapping[str, str], body: bytes) -> tuple[str | None, str]:
    """(branch, event) of a push payload; branch None for other events (ping, tag pushes)."""
    lower = {k.lower(): v for k, v in headers.items()}
    event = lower.get("x-github-event") or lower.get("x-gitlab-event") or ""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return None, event
    ref = payload.get("ref") if isinstance(payload, dict) else None
    if event not in ("push", "Push Hook") or not isinstance(ref, str) or not ref.startswith("refs/heads/"):
        return None, event
    return ref.removeprefix("refs/heads/"), event


@dataclass
class Endpoints:
    metrics: Metrics
    healthy: Probe
    ready: Probe
    on_push: Callable[[], None]
    secret: bytes | None
    branch: str


def _handler(endpoints: Endpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mlcp-reconciler"

        def log_message(self, format: str, *args: object) -> None:
            logs.get().debug("http " + format % args)

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._send(200, endpoints.metrics.exposition(), "text/plain; version=0.0.4; charset=utf-8")
            elif path in ("/healthz", "/readyz"):
                ok, why = (endpoints.healthy if path == "/healthz" else endpoints.ready)()
                self._send(200 if ok else 503, (why or "ok").encode() + b"\n")
            else:
                self._send(404, b"not found\n")

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/webhook":
                self._send(404, b"not found\n")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, b"payload too large\n")
                return
            body = self.rfile.read(length)
            headers = dict(self.headers.items())
            ok, kind = verify(headers, body, endpoints.secret)
            if not ok:
                logs.get().warning("webhook refused", extra={"why": kind, "peer": self.client_address[0]})
                self._send(403 if endpoints.secret else 404, b"forbidden\n")
                return
            branch, event = pushed_branch(headers, body)
            if branch != endpoints.branch:
                self._send(202, f"ignored: {event or 'event'} for {branch or 'no branch'}\n".encode())
                return
            logs.get().info("webhook: push received, pass requested", extra={"source": kind, "branch": branch})
            endpoints.on_push()
            self._send(202, b"pass requested\n")

    return Handler


class HttpServer:
    """The server in a daemon thread; `listen` is "host:port" or ":port" (all interfaces)."""

    def __init__(self, listen: str, endpoints: Endpoints) -> None:
        host, _, port = listen.rpartition(":")
        self.server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), _handler(endpoints))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="mlcp-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
