"""The Kubernetes transport that mlcp's cluster users share: the backend, leader election, the loop's
state, its audit log and anchor, events, and the watch cache.

One client per cluster connection: the operator's kubeconfig (a flag or
$KUBECONFIG) or the pod's ServiceAccount, never the config repo. Requests go
straight to the connection pool the official client built (TLS, client
certificates, proxy, refreshed tokens), JSON in and out with orjson: the
generated client's layers above the pool cost more CPU per call than the
HTTP itself at thousands of writes. Every request is counted, bounded by the
fence's time inside a fenced apply (backends.deadline), and refused when it
would impersonate an empty identity. Server-side apply is one helper, so the
inventory, the loop's state and the objects are all written the same way.

Nothing whose answer was lost is sent again: urllib3's pools retry such a
request (three times by default), each retry with the timeout worked out for
the first, so a fenced DELETE could still land well after the lease ran out,
and a create or a delete with a precondition would be refused by its own first
attempt and reported as someone else's doing. A lost answer is `Unanswered`
instead (the write may have happened); the caller decides what to try again,
in a later pass. A request the server says it did not take (429 or 503 with
Retry-After) is sent again, as urllib3 did, but each wait is capped and none
runs past the fence's time. An answer that is not JSON (a proxy's HTML error page) is an
error like any other, never an exception the apply does not expect.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3
import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

from reconciler.backends import kubernetes_exchange as exchange
from reconciler.backends.base import BackendError
from reconciler.backends.deadline import Deadline, Remaining
from reconciler.backends.kubernetes_answers import (
    RETRY_AFTER_CAP,
    THROTTLED_ATTEMPTS,
    HttpError,
    Unanswered,
    error_body,
    excerpt,
    retry_after,
    unanswered,
)
from reconciler.backends.kubernetes_objects import ResourceType
from reconciler.targets import DEFAULT_CONTROLLER_NAMESPACE, Targets

USER_AGENT = "mlcp"
APPLY_PATCH = "application/apply-patch+yaml"
TIMEOUT = (5.0, 60.0)
"""Connect and read timeouts for reads: a LIST of thousands of objects can take a while on a busy server."""
WRITE_TIMEOUT = (5.0, 10.0)
"""Writes are single objects; a short read timeout, cut further to the lease's time left inside a fenced apply."""
POOL_SIZE = 64
"""Connections per client, sized when it is built: enough for every concurrent writer, so none pays a new TLS
handshake."""


@functools.lru_cache(maxsize=64)
def apply_query(field_manager: str, *, force: bool = False) -> tuple[tuple[str, str], ...]:
    """The query of every server-side apply mlcp sends (objects, inventory, state, Leases' namespace, audit).

    `fieldValidation=Ignore` spares the API server a second parse of every body. For an apply, field
    validation decides only what happens to duplicate keys (`Warn`, the default, parses the body again to
    find them): an unknown field is refused whatever it says, built-in kind or CRD, by the typed conversion
    ("field not declared in schema"; `tests/integration/test_apply_validation.py`). mlcp's bodies are JSON
    written from mappings, so they cannot repeat a key. The second parse was 6% of the API server's CPU in
    a profile of a first apply (docs/performance.md).

    A tuple: one value is shared by every write with the same manager, so no caller may add to it (a dry
    run's `dryRun=All` once reached every later write of the process; tests/integration/test_apply_validation).
    """
    return (("fieldManager", field_manager), ("force", str(force).lower()), ("fieldValidation", "Ignore"))


@functools.lru_cache(maxsize=256)
def _encoded(query: tuple[tuple[str, str], ...]) -> str:
    """A query string; the few distinct ones (a write's field manager and flags) are encoded once, not per write
    (~6 µs each: 420 ms of a 70,000-object apply). A list's continue tokens pass through the bounded cache."""
    return urlencode(query)


@functools.lru_cache(maxsize=64)
def _timeout(connect: float, read: float) -> urllib3.Timeout:
    """urllib3's timeout value (it copies it per request, so sharing one is safe); built once per pair."""
    return urllib3.Timeout(connect=connect, read=read)


def in_cluster(targets: Targets) -> bool:
    """No kubeconfig from the operator, inside a pod: the pod's own ServiceAccount."""
    return not targets.resolved_kubeconfig() and "KUBERNETES_SERVICE_HOST" in os.environ


_MALFORMED = (yaml.YAMLError, ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)
"""What the official client raises on a kubeconfig of another shape than it expects (beyond ConfigException)."""


class KubeClient:
    """One connection to one cluster, and the namespace where mlcp keeps its records there."""

    def __init__(self, api: ApiClient, controller_namespace: str = DEFAULT_CONTROLLER_NAMESPACE) -> None:
        self.api = api
        self.controller_namespace = controller_namespace
        self._requests = 0
        self._count_lock = threading.Lock()
        self.deadline = Deadline()
        """Inside a fenced apply, no request starts after the lease's time and none waits past it."""

    @classmethod
    def connect(cls, targets: Targets) -> KubeClient:
        """The operator's cluster: their kubeconfig (flag or $KUBECONFIG), else the pod's ServiceAccount."""
        if in_cluster(targets):
            return cls.in_cluster(targets.controller_namespace)
        return cls.from_kubeconfig(targets.resolved_kubeconfig(), targets.context, targets.controller_namespace)

    @classmethod
    def from_kubeconfig(cls, path: str | None, context: str | None, controller_namespace: str) -> KubeClient:
        configuration = Configuration()
        try:
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, client_configuration=configuration, persist_config=False
            )
        except (kube_config.ConfigException, OSError) as exc:
            raise BackendError(f"cannot load kubeconfig {path or '(default)'}: {exc}") from None
        except _MALFORMED as exc:  # the client reads the file as it finds it: not YAML, not UTF-8, a list, ...
            detail = " ".join(str(exc).split())[:300]
            raise BackendError(
                f"cannot load kubeconfig {path or '(default)'}: it is not a kubeconfig ({type(exc).__name__}: {detail})"
            ) from None
        configuration.connection_pool_maxsize = POOL_SIZE
        return cls(ApiClient(configuration), controller_namespace)

    @classmethod
    def in_cluster(cls, controller_namespace: str) -> KubeClient:
        configuration = Configuration()
        try:
            kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except kube_config.ConfigException as exc:
            raise BackendError(f"cannot use the pod's service account: {exc}") from None
        configuration.connection_pool_maxsize = POOL_SIZE
        return cls(ApiClient(configuration), controller_namespace)

    @property
    def target(self) -> str:
        return str(self.api.configuration.host)

    @property
    def requests(self) -> int:
        """Requests sent so far through `request`, and the watch cache's lists a full pass read (`counted`); the
        cache's watches and its other lists are counted by the cache."""
        return self._requests

    def counted(self, requests: int) -> None:
        """Count requests sent for this client's reader by another sender: the watch cache's lists that a
        full pass reads instead of listing itself."""
        with self._count_lock:
            self._requests += requests

    def bounded(self, remaining: Remaining) -> AbstractContextManager[None]:
        """This thread's requests inside the block end within the fence's time (see backends.deadline)."""
        return self.deadline.bounded(remaining)

    def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        impersonate: str | None = None,
    ) -> dict[str, Any]:
        """One API call, JSON in and out; errors become HttpError/BackendError with the server's message.

        Sent again only when the server says it did not take it and when to come back (429 or 503 with
        Retry-After: API Priority and Fairness, a CRD's storage initializing), within the fence's time. An answer
        that is lost (a read timeout, a connection dropped after sending) is `Unanswered`, never sent again; a
        redirect or an error status is an HttpError, whatever its body.
        """
        headers = self._headers(content_type)
        if impersonate is not None:
            if not impersonate.strip():
                raise BackendError("refusing to impersonate an empty identity")
            headers["Impersonate-User"] = impersonate
        payload = orjson.dumps(body) if body is not None else None
        url = f"{path}?{_encoded(tuple(query))}" if query else path
        limits = TIMEOUT if method == "GET" else WRITE_TIMEOUT
        for attempt in range(1, THROTTLED_ATTEMPTS + 1):
            status, reason, wait_for, raw = self._send(
                method, url, payload, headers, self.deadline.timeouts(f"{method} {path}", *limits)
            )
            wait = retry_after(status, wait_for)
            if wait is None or attempt == THROTTLED_ATTEMPTS or not self._waited(wait):
                break
        if status >= 300:
            raise HttpError(status, reason, error_body(raw))
        try:
            data = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:  # a success nobody can read: a write may have happened
            raise Unanswered(
                f"{method} {path}: the Kubernetes API at {self.target} answered HTTP {status} with a body "
                f"that is not JSON: {excerpt(raw)}"
            ) from None
        return data if isinstance(data, dict) else {}

    def _send(
        self, method: str, url: str, payload: bytes | None, headers: dict[str, str], timeout: tuple[float, float]
    ) -> tuple[int, str, str | None, bytes]:
        """One request, sent once (urllib3's own retries would send one whose answer was lost up to 3 more times,
        each with the timeout worked out for the first), counted; its status, reason, Retry-After and body.

        Straight to the API server: framed by kubernetes_exchange on the pool's TLS connections. Through a proxy:
        urllib3's proxy manager, as it is configured."""
        with self._count_lock:
            self._requests += 1
        exchanges = self._exchanges
        if exchanges is not None:
            try:
                answer = exchanges.send(method, url, payload, headers, timeout)
            except exchange.Unsafe as exc:
                raise BackendError(f"not sent to the Kubernetes API at {self.target}: {exc}") from None
            except exchange.Unsent as exc:
                raise BackendError(f"cannot reach the Kubernetes API at {self.target}: {exc}") from None
            except exchange.Lost as exc:
                raise Unanswered(f"no answer from the Kubernetes API at {self.target}: {exc}") from None
            return answer.status, answer.reason, answer.headers.get("retry-after"), answer.body
        try:
            pool, prefix = self._pool
            response = pool.urlopen(
                method,
                prefix + url,
                body=payload,
                headers=headers,
                timeout=_timeout(*timeout),
                retries=False,
                redirect=False,
                assert_same_host=False,
            )
            return response.status, str(response.reason), response.headers.get("Retry-After"), response.data
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if unanswered(exc):
                raise Unanswered(f"no answer from the Kubernetes API at {self.target}: {exc}") from None
            raise BackendError(f"cannot reach the Kubernetes API at {self.target}: {exc}") from None

    def _waited(self, seconds: float) -> bool:
        """Wait as a throttled request is told to, at most RETRY_AFTER_CAP and never past the fence's time; whether
        there is time left to send it again."""
        time.sleep(self.deadline.wait(min(seconds, RETRY_AFTER_CAP)))
        return not self.deadline.expired()

    def _headers(self, content_type: str | None = "application/json") -> dict[str, str]:
        """JSON, mlcp's user agent and the credentials' header (a token, refreshed by the client when it expires)."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if content_type is not None:
            headers["Content-Type"] = content_type
        for setting in self.api.configuration.auth_settings().values():
            if setting["in"] == "header" and setting["value"]:
                headers[setting["key"]] = setting["value"]
        return headers

    @cached_property
    def _pool(self) -> tuple[urllib3.HTTPConnectionPool | urllib3.PoolManager, str]:
        """Where requests go, and what goes before their path.

        Without a proxy: the API server's own connection pool (its connections carry kubernetes_exchange's
        requests, and the watch cache's streams), and the server URL's path prefix (if any).
        Through a proxy: the client's proxy manager, which takes whole URLs.
        """
        manager = self.api.rest_client.pool_manager
        host = str(self.api.configuration.host).rstrip("/")
        if type(manager) is not urllib3.PoolManager:
            return manager, host
        pool = manager.connection_from_url(host)
        return pool, urllib3.util.parse_url(host).path or ""

    @cached_property
    def _exchanges(self) -> exchange.Exchanges | None:
        """mlcp's own framing on the API server's pool (None through a proxy: urllib3's manager then)."""
        pool, prefix = self._pool
        if not isinstance(pool, urllib3.HTTPConnectionPool):
            return None
        return exchange.Exchanges(pool, prefix, POOL_SIZE)

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        """One object (None when it does not exist)."""
        try:
            return self.request("GET", path)
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise

    def list_all(self, rtype: ResourceType, selector: str, page_size: int) -> list[dict[str, Any]]:
        """Every object of one kind matching `selector`."""
        return [item for page in self.list_pages(rtype, selector, page_size) for item in page]

    def list_pages(self, rtype: ResourceType, selector: str, page_size: int) -> Iterator[list[dict[str, Any]]]:
        """Every object of one kind matching `selector`, a page at a time: a caller that keeps less than the
        whole item holds one page's decoded JSON at once, not the kind's."""
        token = ""
        while True:
            query = [("labelSelector", selector), ("limit", str(page_size))]
            if token:
                query.append(("continue", token))
            page = self.request("GET", rtype.collection(), query)
            token = (page.get("metadata") or {}).get("continue") or ""
            yield page.pop("items", None) or []
            if not token:
                return

    def server_side_apply(
        self,
        path: str,
        body: Any,
        field_manager: str,
        *,
        force: bool = False,
        dry_run: bool = False,
        impersonate: str | None = None,
    ) -> dict[str, Any]:
        """Server-side apply of one object: the API server tracks which fields `field_manager` owns."""
        query = apply_query(field_manager, force=force)
        if dry_run:
            query = (*query, ("dryRun", "All"))
        return self.request("PATCH", path, query, body, APPLY_PATCH, impersonate=impersonate)

    def stream(self, path: str, query: list[tuple[str, str]], read_timeout: float) -> Iterator[Any]:
        """A streamed GET (a watch, a large list): yields the urllib3 response once, whatever its status, and
        releases it after. Not counted in `requests`: the watch cache counts its own.

        A response not read to its end (a watch the cache shut down, a body left unread on an error) closes its
        connection: back in the pool, the next request on it would wait behind the server's open watch."""
        url = f"{path}?{_encoded(tuple(query))}" if query else path
        try:
            pool, prefix = self._pool
            response = pool.urlopen(
                "GET",
                prefix + url,
                headers=self._headers(None),
                timeout=_timeout(5.0, read_timeout),
                retries=False,  # a watch that breaks is started again by the cache, with its backoff
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise BackendError(f"cannot reach the Kubernetes API at {self.target}: {exc}") from None
        try:
            yield response
        finally:
            if not response.closed:  # not read to its end (a watch ended early, an error): never reused
                response.close()
            response.release_conn()
