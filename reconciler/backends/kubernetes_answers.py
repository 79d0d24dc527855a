"""What the API server's answers mean: a JSON object or an error, a refusal to come back later, a lost answer.

Kept apart from the transport so its rules can be read in one place: an answer that is not JSON (a proxy's
HTML page) is a `BackendError` like any other, never an exception the apply does not expect; a 5xx may have
written (`HttpError.uncertain`); a transport error after the request may have reached the server is
`Unanswered` (the write may have happened, so nothing is sent again); only a 429 or 503 with Retry-After says
the server did not take it, with a wait capped so a hostile server cannot hold a fenced apply.
"""

from __future__ import annotations

from typing import Any

import orjson
import urllib3

from controlplane.showable import shown
from reconciler.backends.base import BackendError

EXCERPT = 200
"""Bytes of an answer that is not JSON quoted in its error (the head of a proxy's error page says what it is)."""


def excerpt(raw: bytes) -> str:
    """The start of an answer that is not JSON, as text safe to show: one line, escapes visible (showable)."""
    text = " ".join(raw[:EXCERPT].decode("utf-8", "replace").split())
    return shown(text + ("…" if len(raw) > EXCERPT else "")) or "(empty)"


def decoded(raw: bytes | bytearray, what: str) -> dict[str, Any]:
    """A JSON object from the API server (orjson: lists of thousands of objects decode ~4x faster); BackendError
    when it is not one (a proxy's page, a body cut short), so callers that handle BackendError need nothing else."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise BackendError(f"{what}: the answer is not a JSON object: {excerpt(bytes(raw))}")
    return data


def error_body(raw: bytes) -> dict[str, Any]:
    """An error answer's Status object, or for an answer that is not one (a proxy's 502 page) its first bytes."""
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {"message": f"the answer is not the API server's (not JSON; a proxy's?): {excerpt(raw)}"}
    return data if isinstance(data, dict) else {}


class HttpError(BackendError):
    def __init__(self, status: int, reason: str, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(str(body.get("message") or reason))

    @property
    def uncertain(self) -> bool:
        """A server error (5xx, e.g. 504 "the request may still complete"): the write may have happened."""
        return self.status >= 500


class Unanswered(BackendError):
    """The request was sent, or may have been, and its answer was lost (a read timeout, a connection dropped
    mid-answer): a write may have happened. Unlike a connection that never opened, which sent nothing."""


THROTTLED_ATTEMPTS = 4
"""Sends of a request the server refused to take for now (429/503 with Retry-After), as urllib3's default did."""
RETRY_AFTER_CAP = 2.0
"""The longest wait a Retry-After may ask for (a hostile or confused server asking for an hour gets two seconds)."""


def retry_after(status: int, value: str | None) -> float | None:
    """Seconds to wait before sending again, when the server did not take the request and says when to come back:
    429 (API Priority and Fairness, storage initializing) or 503 with `value`, its Retry-After. None otherwise."""
    if status not in (429, 503):
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:  # an HTTP date: the API server sends seconds; wait a second
        return 1.0


def unanswered(exc: Exception) -> bool:
    """Whether a transport error may have come after the request reached the server."""
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(reason, urllib3.exceptions.ProxyError):  # the proxy could not be reached: nothing went through it
        reason = reason.original_error
    return not isinstance(reason, urllib3.exceptions.ConnectTimeoutError)  # NewConnectionError is one too
