"""The Kubernetes client surface the loop uses, kept in memory: to count the work of whole passes at scale.

Not an API server: no validation, no admission, no field ownership beyond what the planner reads. It
stores what mlcp writes (server-side apply, create, delete) under its path, answers GETs and label-less
LISTs from that, and counts requests, so tests and `benchmarks/pass_cost.py` can run the real
`KubernetesBackend` (its inventory, its namespace claims), the loop's state and the audit anchor over
10,000 tenants without a cluster. What must be proven against Kubernetes is proven in
tests/integration against the real API server.
"""

from __future__ import annotations

import copy
import queue
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import orjson

from controlplane.labels import FIELD_MANAGER
from controlplane.plans import LiveObject, ObjectRef
from reconciler.backends.deadline import Remaining
from reconciler.backends.kubernetes import resources
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_objects import ResourceType, live_object


class MemoryKube:
    """`KubeClient`'s methods over a dict of objects by path."""

    def __init__(self, controller_namespace: str = "mlcp-system") -> None:
        self.controller_namespace = controller_namespace
        self.target = "memory://cluster"
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self._version = 0
        self._lock = threading.Lock()
        self.watches: list[tuple[tuple[str, str], _Watch]] = []
        """Open watches (the real watch cache's, over `stream`), by the kind each watches."""
        self.streamed: list[tuple[str, bool]] = []
        """The collections listed (False) and watched (True) over `stream`, in order."""

    @property
    def requests(self) -> int:
        return len(self.calls)

    def counted(self, requests: int) -> None:
        """Requests sent elsewhere on this client's behalf (the watch cache's lists for a full pass)."""
        with self._lock:
            self.calls.extend([("GET", "(watch cache list)")] * requests)

    def bounded(self, remaining: Remaining) -> AbstractContextManager[None]:
        return nullcontext()

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        impersonate: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            self.calls.append((method, path))
            if method == "GET":
                found = {"gitVersion": "memory"} if path == "/version" else self.objects.get(path)
                if found is None and path.endswith("/configmaps"):  # a LIST in one namespace, by label
                    found = {"metadata": {}, "items": self._labelled(path, dict(query or ()).get("labelSelector"))}
                if found is None:
                    raise HttpError(404, "Not Found", {"reason": "NotFound"})
                return copy.deepcopy(found)
            if method == "DELETE":
                gone = self.objects.pop(path, None)
                if gone is None:
                    raise HttpError(404, "Not Found", {"reason": "NotFound"})
                self._event("DELETED", gone)
                return {}
            if method == "POST":
                path = f"{path}/{body['metadata']['name']}"
                if path in self.objects:
                    raise HttpError(409, "Conflict", {"reason": "AlreadyExists"})
            return self._store(path, body, dict(query or ()).get("fieldManager", FIELD_MANAGER))

    def _labelled(self, collection: str, selector: str | None) -> list[dict[str, Any]]:
        """The objects directly under `collection` whose labels match `selector` (`k=v` and `k in (a,b)` terms)."""
        terms = _selector_terms(selector or "")
        return [
            obj
            for path, obj in self.objects.items()
            if path.rsplit("/", 1)[0] == collection
            and all(((obj.get("metadata") or {}).get("labels") or {}).get(k) in vs for k, vs in terms)
        ]

    def _store(self, path: str, body: dict[str, Any], manager: str) -> dict[str, Any]:
        expected = (body.get("metadata") or {}).get("resourceVersion")
        stored = self.objects.get(path)
        if expected and (stored is None or stored["metadata"]["resourceVersion"] != expected):
            raise HttpError(409, "Conflict", {"reason": "Conflict"})
        self._version += 1
        item = copy.deepcopy(body)
        meta = item.setdefault("metadata", {})
        meta["resourceVersion"] = str(self._version)
        meta["managedFields"] = [{"manager": manager, "operation": "Apply", "fieldsV1": {}}]
        self._event("MODIFIED" if path in self.objects else "ADDED", item)
        self.objects[path] = item
        return copy.deepcopy(item)

    def _event(self, kind: str, item: dict[str, Any]) -> None:
        """Tell the open watches of the item's kind (called with the lock held)."""
        line = orjson.dumps({"type": kind, "object": item}) + b"\n"
        for key, watch in self.watches:
            if key == (item.get("apiVersion"), item.get("kind")):
                watch.lines.put(line)

    def stream(self, path: str, query: list[tuple[str, str]], read_timeout: float) -> Iterator[Any]:
        """A LIST of a kind's collection in one page, or a WATCH that delivers what is stored from now on."""
        rtype = next(r for r in resources() if r.collection() == path)
        key = (rtype.api_version, rtype.kind)
        watching = ("watch", "true") in query
        with self._lock:
            self.streamed.append((path, watching))
            if not watching:
                items = [copy.deepcopy(o) for o in self.objects.values() if (o.get("apiVersion"), o.get("kind")) == key]
                yield _Listed(orjson.dumps({"metadata": {"resourceVersion": str(self._version)}, "items": items}))
                return
            watch = _Watch()
            self.watches.append((key, watch))
        try:
            yield watch
        finally:
            with self._lock:
                self.watches.remove((key, watch))

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", path)
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise

    def list_pages(self, rtype: ResourceType, selector: str, page_size: int) -> Iterator[list[dict[str, Any]]]:
        with self._lock:
            self.calls.append(("GET", rtype.collection()))
            items = [
                copy.deepcopy(o)
                for o in self.objects.values()
                if o.get("apiVersion") == rtype.api_version and o.get("kind") == rtype.kind
            ]
        yield items

    def list_all(self, rtype: ResourceType, selector: str, page_size: int) -> list[dict[str, Any]]:
        return [item for page in self.list_pages(rtype, selector, page_size) for item in page]

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
        if dry_run:
            return copy.deepcopy(body)  # type: ignore[no-any-return]
        return self.request("PATCH", path, [("fieldManager", field_manager)], body)

    def cache(self) -> MemoryCache:
        """A synced watch cache of what is stored now (the loop's `watch`)."""
        cache = MemoryCache(self)
        cache.fresh()
        self.calls.clear()
        return cache

    def live(self) -> dict[ObjectRef, LiveObject]:
        """Every stored object of the kinds mlcp manages, as a list would give it."""
        found: dict[ObjectRef, LiveObject] = {}
        for rtype in resources():
            for item in self.list_all(rtype, "", 0):
                obj = live_object(rtype, item)
                found[obj.ref] = obj
        return found


class _Listed:
    """A LIST's response: its body in one chunk."""

    status, data = 200, b""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, _size: int) -> Iterator[bytes]:
        yield self.body

    def shutdown(self) -> None:
        return None


class _Watch:
    """A WATCH's response: the events stored since it opened, until it is shut down (then it ends, as at a timeout)."""

    status, data = 200, b""

    def __init__(self) -> None:
        self.lines: queue.Queue[bytes | None] = queue.Queue()

    def stream(self, _size: int) -> Iterator[bytes]:
        while (line := self.lines.get()) is not None:
            yield line

    def shutdown(self) -> None:
        self.lines.put(None)


class MemoryCache:
    """A synced watch cache (`LiveCache` and `Watching`): the pass's own writes, and events a test injects."""

    def __init__(self, kube: MemoryKube) -> None:
        self.kube = kube
        self.objects: dict[ObjectRef, LiveObject] = {}
        self.changed: set[ObjectRef] = set()
        self.snapshots = 0

    def snapshot(self) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...]] | None:
        self.snapshots += 1
        return dict(self.objects), ()

    def fresh(self) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...], int]:
        """Every kind listed again (a full pass), the changes so far taken with it."""
        self.objects, self.changed = self.kube.live(), set()
        return dict(self.objects), (), len(resources())

    def written(self, ref: ObjectRef, item: dict[str, Any]) -> None:
        rtype = next(r for r in resources() if (r.api_version, r.kind) == (ref.api_version, ref.kind))
        self.objects[ref] = live_object(rtype, copy.deepcopy(item))

    def deleted(self, ref: ObjectRef, version: str) -> None:
        self.objects.pop(ref, None)

    def event(self, obj: LiveObject) -> None:
        """Someone changed an object live: the cache holds it and reports it changed."""
        self.objects[obj.ref] = obj
        self.changed.add(obj.ref)

    def take_changed(self) -> frozenset[ObjectRef] | None:
        changed, self.changed = frozenset(self.changed), set()
        return changed

    def close(self) -> None:
        return None

    def stats(self) -> tuple[int, int]:
        return len(self.objects), 0

    def wait_synced(self, timeout: float) -> bool:
        return True


def _selector_terms(selector: str) -> list[tuple[str, frozenset[str]]]:
    """A label selector's terms as (key, the values it may have): equality (`k=v`) and set (`k in (a,b)`) terms,
    the ones mlcp sends; anything else is refused, so a test never passes on a selector read wrongly."""
    terms: list[tuple[str, frozenset[str]]] = []
    for raw in re.findall(r"[^,(]+(?:\([^)]*\))?", selector):
        term = raw.strip()
        if matched := re.fullmatch(r"([\w./-]+)\s+in\s+\(([^)]*)\)", term):
            terms.append((matched[1], frozenset(v.strip() for v in matched[2].split(","))))
        elif matched := re.fullmatch(r"([\w./-]+)==?([\w.-]*)", term):
            terms.append((matched[1], frozenset({matched[2]})))
        else:
            raise ValueError(f"MemoryKube does not understand the selector term {term!r}")
    return terms
