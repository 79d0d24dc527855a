"""MLflow's REST API as mlcp uses it: JSON calls with retries, paged searches, and a call counter.

The project does not depend on the `mlflow` package (its pins clash with ours,
and the server may be any version), so the backend speaks REST. Transient
failures (connection errors, timeouts, 429 and 5xx) are retried with
exponential backoff; everything else fails at once with MLflow's own error
code and message. A retry repeats a call whose earlier attempt may have been
done (its answer lost: a read timeout, a dropped connection, a 5xx), so a call
that fails after one says so: `Unanswered` when no attempt was answered, and a
refusal of the retry (a create's "already exists", a revoke's "not found")
carries `after_lost_answer`, for the caller to read what is there before
reporting the call as not done. Every request is counted per endpoint so a benchmark (or a
test) can prove that reading N objects costs ⌈N / page size⌉ searches. Inside
a fenced apply (`bounded`), no request starts once the lease's time is up, and
timeouts and retry waits are cut to the time left (see backends.deadline).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import requests
import urllib3
from tenacity import retry, retry_if_exception, wait_exponential

from reconciler.backends.base import BackendError
from reconciler.backends.deadline import Deadline, DeadlineExceeded, Remaining
from reconciler.redaction import redact

API = "/api/2.0/mlflow/"
PAGE_SIZE = 100
TIMEOUT = (5.0, 30.0)
ATTEMPTS = 4


class MlflowApiError(BackendError):
    """MLflow answered with an error; `code` is its error_code (RESOURCE_DOES_NOT_EXIST, ...)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.after_lost_answer = False
        """The refusal answered a retry whose earlier attempt got no answer and may have been done: a create
        refused as already existing may be the first attempt's own object."""
        super().__init__(f"HTTP {status} {code}: {message}")

    @property
    def not_found(self) -> bool:
        return self.status == 404 or self.code == "RESOURCE_DOES_NOT_EXIST"


class Transient(BackendError):
    """A failure worth retrying: the server was unreachable, slow, or answered 429/5xx.

    `sent`: the request may have reached the server and been acted on (a read timeout, a dropped connection, a
    5xx but 503); False when it surely was not (no connection, 429, 503)."""

    def __init__(self, message: str, *, sent: bool = True) -> None:
        self.sent = sent
        super().__init__(message)


class Unanswered(BackendError):
    """A call that failed after an attempt that may have been done (its answer was lost): it may have happened."""


NOT_ACTED = (429, 503)
"""Statuses that say the server did not act on the request (too many requests, unavailable)."""


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, Transient)


def _never_connected(exc: requests.RequestException) -> bool:
    """Whether the request failed before a connection was made (nothing was sent)."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError names what failed
    return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)


class MlflowRest:
    """A thread-safe MLflow REST client for one tracking server."""

    def __init__(
        self,
        uri: str,
        auth: tuple[str, str] | None = None,
        attempts: int = ATTEMPTS,
        backoff: float = 0.2,
    ) -> None:
        self.uri = uri.rstrip("/")
        self.shown = redact(self.uri)
        """The URI as messages and plans show it: without the user-info an operator may put in it."""
        self.session = requests.Session()
        self.session.headers["Content-Type"] = "application/json"
        if auth is None and os.environ.get("MLFLOW_TRACKING_USERNAME"):
            auth = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
        self.session.auth = auth
        self.calls: Counter[str] = Counter()
        self.auth_unknown = ""
        """What the last auth probe saw when it could not tell whether the server runs basic-auth ("": it could)."""
        self.deadline = Deadline()
        self._lock = threading.Lock()
        backing_off = wait_exponential(multiplier=backoff, max=5.0)
        self._retrying = retry(
            retry=retry_if_exception(_transient),
            stop=lambda state: state.attempt_number >= max(1, attempts) or self.deadline.expired(),
            wait=lambda state: self.deadline.wait(backing_off(state)),
            reraise=True,
        )

    def bounded(self, remaining: Remaining) -> AbstractContextManager[None]:
        """This thread's calls inside the block end within `remaining()` seconds (a fenced apply's lease)."""
        return self.deadline.bounded(remaining)

    @property
    def has_credentials(self) -> bool:
        return self.session.auth is not None

    @property
    def username(self) -> str | None:
        """The MLflow user mlcp acts as (None: no credentials)."""
        auth = self.session.auth
        return str(auth[0]) if isinstance(auth, tuple) else None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call (retried while transient); GET sends `body` as query parameters.

        `path` is relative to /api/2.0/mlflow/, or absolute from the server root (`/api/3.0/mlflow/...`).
        """
        lost = False

        def attempt(method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
            nonlocal lost
            try:
                return self._once(method, path, body)
            except Transient as exc:
                lost = lost or exc.sent
                raise
            except MlflowApiError as exc:
                exc.after_lost_answer = lost
                raise
            except DeadlineExceeded as exc:
                if lost:
                    raise Unanswered(f"{exc}; an earlier attempt got no answer and may have been done") from None
                raise

        try:
            result: dict[str, Any] = self._retrying(attempt)(method, path, body)
        except Transient as exc:
            why = "the lease's time ran out" if self.deadline.expired() else "gave up after retries"
            failed = Unanswered if lost else BackendError
            raise failed(f"MLflow at {self.shown}: {redact(str(exc))} ({why})") from None
        return result

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        return self.call("GET", path, query)

    def post(self, path: str, **body: Any) -> dict[str, Any]:
        return self.call("POST", path, body)

    def delete(self, path: str, **body: Any) -> dict[str, Any]:
        return self.call("DELETE", path, body)

    def _once(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        timeout = self.deadline.timeouts(f"MLflow {method} {path}", *TIMEOUT)  # raises when the lease is up
        with self._lock:
            self.calls[path] += 1
        url = self.uri + (path if path.startswith("/") else API + path)
        try:
            if method == "GET":
                response = self.session.get(url, params=body or None, timeout=timeout)
            else:
                response = self.session.request(method, url, json=body or {}, timeout=timeout)
        except requests.ConnectTimeout as exc:
            message = f"cannot reach {self.shown}: {type(exc).__name__}: {redact(str(exc))}"
            raise Transient(message, sent=False) from None
        except requests.Timeout as exc:
            raise Transient(f"{method} {path} timed out: {redact(str(exc))}") from None
        except requests.RequestException as exc:
            message = f"cannot reach {self.shown}: {type(exc).__name__}: {redact(str(exc))}"
            raise Transient(message, sent=not _never_connected(exc)) from None
        if response.status_code == 429 or response.status_code >= 500:
            message = f"{method} {path} answered HTTP {response.status_code}: {response.text[:300]}"
            raise Transient(message, sent=response.status_code not in NOT_ACTED)
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {"message": response.text[:300]}
        if response.status_code >= 400:
            raise MlflowApiError(
                response.status_code, str(data.get("error_code", "")), str(data.get("message", response.reason))
            )
        return data if isinstance(data, dict) else {}

    def search(self, path: str, key: str, method: str = "POST", **query: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paged search (`experiments/search`, `registered-models/search`)."""
        token = ""
        while True:
            params: dict[str, Any] = {"max_results": PAGE_SIZE, **query}
            if token:
                params["page_token"] = token
            page = self.call(method, path, params)
            yield from page.get(key) or []
            token = page.get("next_page_token") or ""
            if not token:
                return

    def auth_enabled(self) -> bool | None:
        """True when the server runs MLflow's basic-auth app (401 to a request without credentials), False when it
        answered that request as MLflow does (200 with a JSON object), None when it cannot tell (no answer, a 5xx, a
        redirect, a proxy's page): `auth_unknown` then says what it saw. Unknown is never "no auth": mlcp's records
        are trusted without auth only on the server's own word (mlflow_records)."""
        self.auth_unknown = ""
        try:
            response = requests.get(
                self.uri + API + "experiments/search",
                params={"max_results": 1},
                timeout=TIMEOUT,
                allow_redirects=False,  # a login page behind a redirect is no answer of MLflow's
            )
        except requests.RequestException as exc:
            self.auth_unknown = f"no answer ({type(exc).__name__})"
            return None
        with self._lock:
            self.calls["auth-probe"] += 1
        if response.status_code == 401:
            return True
        if response.status_code == 200 and _json_object(response):
            return False
        self.auth_unknown = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
        if response.status_code == 200:
            self.auth_unknown += " that is not MLflow's JSON"
        return None


def _json_object(response: requests.Response) -> bool:
    """Whether `response` carries a JSON object, as every MLflow REST answer does."""
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False
