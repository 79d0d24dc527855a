"""Push webhooks from GitHub and GitLab: proof of the shared secret, replay refusal, and nothing else trusted.

A push webhook only says "look now": the pass still fetches the branch and
trusts nothing from the payload but the branch name. Even so a webhook must
prove it knows the shared secret — GitHub signs the body (HMAC-SHA256 in
X-Hub-Signature-256), GitLab sends the token itself (X-Gitlab-Token) — or
anyone could make the controller spin. Without a configured secret the
endpoint refuses every call. The checks do the same work whatever is wrong
(both comparisons always run, in constant time, over the whole body), a
delivery seen within the window is refused (by its ID and by its body), and
every answer has a generic body: nothing an unauthenticated caller sends
changes what it learns beyond "forbidden". The HTTP server around it is
httpserver.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controlplane import digits
from reconciler import logs

_UNSET = secrets.token_bytes(32)
"""Compared against when no secret is configured, so that case costs the same work and still fails."""


def verify(headers: Mapping[str, str], body: bytes, secret: bytes | None) -> tuple[bool, str]:
    """Whether a webhook call proves it knows `secret` (GitHub or GitLab style), and which it was.

    Both comparisons run on every call, whichever header is present or whether a secret is set at all, so
    the time taken says nothing about which check failed.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    key = secret or _UNSET
    signature = lower.get("x-hub-signature-256")
    token = lower.get("x-gitlab-token")
    expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    github = hmac.compare_digest((signature or "").strip().encode(), expected.encode())
    gitlab = hmac.compare_digest((token or "").encode(), key)
    if not secret:
        return False, "no webhook secret is configured"
    if signature is not None:
        return github, "github"
    if token is not None:
        return gitlab, "gitlab"
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


def delivery_id(headers: Mapping[str, str]) -> str | None:
    """The forge's ID of a delivery: GitHub's X-GitHub-Delivery, GitLab's X-Gitlab-Event-UUID / Idempotency-Key."""
    lower = {k.lower(): v for k, v in headers.items()}
    for name in ("x-github-delivery", "x-gitlab-event-uuid", "idempotency-key"):
        if lower.get(name):
            return lower[name].strip()[:200]
    return None


class Deliveries:
    """Deliveries seen within a window, in bounded memory: a replay is refused by its ID or by its body.

    GitHub signs the body only, so whoever replays a captured delivery can change its ID header: the body's
    digest is remembered too (a push payload names its before/after commits, so a genuine new delivery never
    repeats one). Only verified deliveries are recorded, so filling the memory takes the secret.
    """

    def __init__(self, window: float, entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.window, self.entries, self.clock = window, entries, clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, ident: str | None, body: bytes) -> bool:
        """Record a verified delivery; False when its ID or body was seen within the window."""
        keys = [f"body:{hashlib.sha256(body).hexdigest()}", *([f"id:{ident}"] if ident else [])]
        now = self.clock()
        with self._lock:
            while self._seen and (next(iter(self._seen.values())) < now - self.window):
                self._seen.popitem(last=False)
            if any(key in self._seen for key in keys):
                return False
            for key in keys:
                self._seen[key] = now
            while len(self._seen) > self.entries:
                self._seen.popitem(last=False)
            return True


@dataclass
class Hook:
    """What the webhook endpoint needs: the secret, the branch followed, what a push triggers, what was seen."""

    secret: bytes | None
    branch: str
    on_push: Callable[[], None]
    deliveries: Deliveries
    max_body: int


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    return {key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items() if key.startswith("HTTP_")}


def handle(hook: Hook, environ: Mapping[str, Any]) -> tuple[int, bytes]:
    """(status, body) for one request to /webhook (the server has already read the whole body)."""
    if environ.get("REQUEST_METHOD") != "POST":
        return 405, b"method not allowed\n"
    length = digits.number(str(environ.get("CONTENT_LENGTH") or ""))
    if length is None:  # waitress reads a chunked body (capped) and sets its length
        return 411, b"length required\n"
    if length > hook.max_body:
        return 413, b"payload too large\n"
    body = environ["wsgi.input"].read(length)
    headers = _headers(environ)
    ok, why = verify(headers, body, hook.secret)
    peer = environ.get("REMOTE_ADDR")
    if not ok:
        logs.get().warning("webhook refused", extra={"why": why, "peer": peer})
        return 403, b"forbidden\n"
    ident = delivery_id(headers)
    if not hook.deliveries.first_time(ident, body):
        logs.get().warning("webhook refused: delivery already seen", extra={"delivery": ident, "peer": peer})
        return 409, b"already delivered\n"
    branch, _ = pushed_branch(headers, body)
    if branch == hook.branch:
        logs.get().info("webhook: push received, pass requested", extra={"source": why, "delivery": ident})
        hook.on_push()
    return 202, b"accepted\n"
