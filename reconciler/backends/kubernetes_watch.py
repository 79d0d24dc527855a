"""Live state kept current by WATCH, so a pass reads mlcp's objects from memory instead of listing them.

A LIST of 9,001 objects per pass costs the API server and this process
seconds, and makes a pass's cost grow with the number of tenants. Like
client-go's informers (and Argo CD's cluster cache), each kind is listed
once with the managed-by selector, then watched from the list's
resourceVersion; ADDED/MODIFIED/DELETED events keep an in-memory map, and
410 Gone or any error relists with backoff. A kind that is not synced (first
list, relisting after an error) makes `snapshot` return None, so the pass
falls back to listing and an unreachable API server still fails the pass.
A few kinds list at a time (LIST_CONCURRENCY): each list holds its page's
JSON and decoded items until they are reduced, and fifteen kinds' pages of
10,000 items at once were a large part of a reconciler's peak.

A full pass must not trust the watch, but it need not list beside it either:
`fresh` asks every kind for a list that began no earlier than the pass asked
(a list already in progress counts: it has seen no event yet), drops what the
kind held so the old and the new copy are not held together, waits for the
lists, and hands the pass the result. The live state is then read and held
once: the first pass reads the cache's initial lists, a resync the cache's
relists. A kind that is failing, or lists that do not complete, make it
return None, and the pass lists for itself.
Objects are kept reduced to what the diff reads (kubernetes_objects.live_object):
without other managers' managedFields, status and server bookkeeping.
Objects the pass writes are put in at once from the write's response (when
newer than what the cache holds, or, with nothing held, than the last event
or list the cache applied), so the next pass does not see them stale; the
watch delivers the same objects moments later. A response handled after the
watch delivered a later deletion is not put back, and the pass's own delete
does not drop an object created again since: resourceVersions are compared
as integers, which is what etcd-backed servers give and the order the watch
delivers; where they are not integers the watch alone is trusted.

The cache also says which objects changed since the pass last asked
(`take_changed`): every event that changed what it holds (a new
resourceVersion, a deletion), but not the echo of the pass's own write. A
relist, or a kind not synced, makes that unknown (None), and the pass then
plans everything (reconciler.selection).

With shards (`mlcp reconcile --shards N`) a replica keeps only the objects of
the tenants it holds (kubernetes_scope: routed by namespace through mlcp's
records, never by labels). A scoped cache lists nothing until it is given its
first scope. When the scope narrows (a shard given away) the objects it no
longer covers are dropped at once; when it widens (a shard taken) every kind
lists again, filtered to the new scope, and is not synced until then, so no
pass reads it without the new shard's objects. Such a relist keeps the old
objects until the list is in and compares the two: what differs is recorded as
changed, so the other lanes' changes are not lost and they do not plan all of
their tenants again.

The loop uses it (`mlcp reconcile`); `mlcp plan` and `apply` list, as a
one-shot command has nothing to keep warm. This module is the threads and
requests (list, watch, relist); what one kind holds, and how an event or
a write changes it, is kubernetes_kindcache's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

import orjson
import urllib3

from controlplane.labels import SELECTOR
from controlplane.plans import LiveObject, ObjectRef
from reconciler import logs
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_answers import decoded
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backends.kubernetes_kindcache import Gone, KindCache
from reconciler.backends.kubernetes_objects import ResourceType, live_object
from reconciler.backends.kubernetes_scope import EVERYTHING, Scope
from reconciler.backoff import Backoff

WATCH_SECONDS = 240
"""How long the server keeps one watch open; the cache then watches again from the last resourceVersion."""
MISSING_RECHECK = 60.0
"""A kind whose API is not served (CRD not installed) is listed again this often."""
LIST_CONCURRENCY = 4
"""Kinds listed at once, as many as the backend lists (READ_CONCURRENCY): the server's work on one overlaps the
decoding of another, while the pages decoded at once stay few (docs/performance.md, "Memory at 10,000 tenants")."""
LIST_PAGE = 1000
"""Items per page of the cache's lists: a page's JSON and its decoded items are held until reduced (a page of
10,000 namespaces: 15 MB of JSON, 50 MB decoded), so smaller pages cut the read's peak for a few more requests
(2,500 until session 10: memray found four such pages ~117 MB of a sharded replica's peak, when it relists for
a shard it took; a relist of 90,001 objects now sends about 95 requests instead of 40)."""
FRESH_WAIT = 600.0
"""The longest `fresh` waits for the lists it asked for; each page's own read timeout usually ends it first."""


class WatchCache:
    """Every kind of `kinds` (those mlcp manages) in one cluster, listed once and then watched, one thread per kind."""

    def __init__(
        self, kube: KubeClient, kinds: Sequence[ResourceType], backoff: Backoff | None = None, scoped: bool = False
    ) -> None:
        self.kube = kube
        self.scope: Scope | None = None if scoped else EVERYTHING
        """The objects kept (kubernetes_scope); None: a scoped cache not yet told its scope lists nothing."""
        self.widenings = 0
        """Scopes widened so far: a list begun before the last one is done again (it skipped what is now kept)."""
        self.backoff = backoff or Backoff(base=0.5, cap=30.0)
        self.kinds = {(r.api_version, r.kind): KindCache(r) for r in kinds}
        self.requests = 0
        """Lists and watches sent (not counted in the backend's per-pass requests)."""
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        """Notified when a kind's list completes or fails (`fresh` waits on it)."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: dict[Any, KindCache] = {}
        """Open responses, and the kind each is for."""
        self._lists = threading.BoundedSemaphore(LIST_CONCURRENCY)

    def start(self) -> WatchCache:
        for kind in self.kinds.values():
            thread = threading.Thread(target=self._run, args=(kind,), name=f"mlcp-watch-{kind.rtype.plural}")
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for response in list(self._open):
                response.shutdown()  # unblocks the thread reading it
            for kind in self.kinds.values():
                kind.wake.set()
            self._settled.notify_all()
        for thread in self._threads:
            thread.join(timeout=2)

    def synced(self) -> bool:
        with self._lock:
            return all(k.synced for k in self.kinds.values())

    def wait_synced(self, timeout: float) -> bool:
        deadline = threading.Event()
        for _ in range(int(timeout / 0.05)):
            if self.synced():
                return True
            deadline.wait(0.05)
        return self.synced()

    def stats(self, sample: int = 64) -> tuple[int, int]:
        """(objects, bytes): how many objects are cached, and their size as JSON estimated from a sample."""
        with self._lock:
            count = sum(len(k.objects) for k in self.kinds.values())
            picked = [o for k in self.kinds.values() for o in islice(k.objects.values(), sample)][:sample]
        if not picked:
            return count, 0
        size = sum(len(orjson.dumps(o.manifest)) for o in picked)
        return count, size * count // len(picked)

    def rescope(self, scope: Scope) -> bool:
        """Keep only what `scope` keeps from now on: objects it drops go at once; when it keeps more than before,
        every kind lists again (compared with what it holds) and is not synced until then. Whether it widened."""
        with self._lock:
            if scope is self.scope:
                return False
            before, self.scope = self.scope, scope
            if before is None:  # the first scope of a scoped cache: its threads begin their lists
                for kind in self.kinds.values():
                    kind.wake.set()
                return True
            if scope.narrowed(before):
                for kind in self.kinds.values():
                    kind.drop(scope)
            if not scope.widened(before):
                return False
            self.widenings += 1
            for kind in self.kinds.values():
                kind.widen()
            for response, kind in self._open.items():
                if kind.wanted and not kind.listing:
                    response.shutdown()  # the watch it reads ends; its thread lists again
            self._settled.notify_all()
        return True

    def settled(self, timeout: float = FRESH_WAIT) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...]] | None:
        """`snapshot`, once no kind is listing (a first list, or the relist of a widened scope); None when a kind
        is failing, the cache closed or `timeout` passed (then the pass lists for itself)."""
        deadline = time.monotonic() + timeout
        with self._settled:
            while not all(k.synced for k in self.kinds.values()):
                left = deadline - time.monotonic()
                if self._stop.is_set() or any(k.failing for k in self.kinds.values()) or left <= 0:
                    return None
                self._settled.wait(min(left, 1.0))
        return self.snapshot()

    def snapshot(self) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...]] | None:
        """Every cached object and the kinds not served, or None while any kind is not synced."""
        with self._lock:
            if not all(k.synced for k in self.kinds.values()):
                return None
            objects: dict[ObjectRef, LiveObject] = {}
            for k in self.kinds.values():  # dict.update copies in C: ~5x a comprehension's 90,000 Python steps
                objects.update(k.objects)
            missing = tuple(f"{k.rtype.kind}.{k.rtype.api_version}" for k in self.kinds.values() if k.missing)
        return objects, missing

    def fresh(self, timeout: float = FRESH_WAIT) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...], int] | None:
        """Every object as listed no earlier than this call, the kinds not served, and the requests the lists
        took; None when a kind is failing, a list failed, the cache closed or `timeout` passed (then list).

        Each kind lists again, or its list in progress counts (a first sync); what it held is dropped first.
        The changes recorded so far are taken with the result: the next `take_changed` has what came after.
        """
        deadline = time.monotonic() + timeout
        with self._settled:
            if self._stop.is_set() or any(k.failing for k in self.kinds.values()):
                return None
            asked = {key: kind.want() for key, kind in self.kinds.items()}
            for response, kind in self._open.items():
                if kind.wanted:
                    response.shutdown()  # the watch it reads ends; its thread lists again
            while True:
                kinds = self.kinds.items()
                if self._stop.is_set() or any(k.failing for k in self.kinds.values()):
                    return None
                if all(k.synced and k.done >= asked[key] for key, k in kinds):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._settled.wait(min(left, 1.0))
            objects: dict[ObjectRef, LiveObject] = {}
            for k in self.kinds.values():  # dict.update copies in C: ~5x a comprehension's 90,000 Python steps
                objects.update(k.objects)
            missing = tuple(f"{k.rtype.kind}.{k.rtype.api_version}" for k in self.kinds.values() if k.missing)
            for k in self.kinds.values():
                k.changed, k.lost = set(), False
            return objects, missing, sum(k.pages for k in self.kinds.values())

    def take_changed(self) -> frozenset[ObjectRef] | None:
        """Objects changed by events since the last call; None when that is unknown (a relist, a kind not
        synced): then everything may have changed."""
        with self._lock:
            kinds = list(self.kinds.values())
            lost = any(k.lost or not (k.synced or k.diffing) for k in kinds)
            changed = frozenset(ref for k in kinds for ref in k.changed)
            for k in kinds:
                k.changed, k.lost = set(), not (k.synced or k.diffing)
        return None if lost else changed

    def written(self, ref: ObjectRef, item: dict[str, Any]) -> None:
        """The pass wrote `ref` and the server answered `item` (KindCache.written)."""
        kind = self.kinds.get((ref.api_version, ref.kind))
        if kind is not None:
            with self._lock:
                if self.scope is not None and self.scope.keeps(ref):
                    kind.written(item)

    def deleted(self, ref: ObjectRef, version: str) -> None:
        """The pass deleted `ref` at `version` (KindCache.deleted)."""
        kind = self.kinds.get((ref.api_version, ref.kind))
        if kind is not None:
            with self._lock:
                kind.deleted(ref, version)

    # -- one thread per kind ---------------------------------------------------------------------------------

    def _run(self, kind: KindCache) -> None:
        while self.scope is None and not self._stop.is_set():  # a scoped cache lists once it knows what to keep
            kind.wake.wait(1.0)
            kind.wake.clear()
        failures = 0
        while not self._stop.is_set():
            try:
                self._relist(kind)
                failures = 0
                if kind.missing:
                    if not kind.wanted:
                        kind.wake.wait(MISSING_RECHECK)
                    kind.wake.clear()
                    continue
                while not self._stop.is_set() and not kind.wanted:
                    self._watch(kind)
            except (Gone, _Wanted):
                continue
            except BackendError as exc:
                with self._lock:
                    if kind.wanted:  # the watch was ended to list again: not a failure
                        continue
                    kind.synced, kind.listing, kind.failing = False, False, True
                    self._settled.notify_all()
                failures += 1
                if not self._stop.is_set():
                    extra = {"kind": kind.rtype.kind, "error": str(exc)}
                    logs.get().warning("watch failed; listing again", extra=extra)
                self._stop.wait(self.backoff.delay(failures))

    def _relist(self, kind: KindCache) -> None:
        """List the kind, reducing each page's items as it arrives (live_object): one page's JSON at a time,
        and a few kinds at a time."""
        with self._lock:
            kind.began, kind.listing, kind.wanted = kind.began + 1, True, False
            kind.wake.clear()
            widenings = self.widenings
        with self._lists:
            objects: list[LiveObject] | None = []
            token, version, pages = "", "", 0
            while objects is not None:
                query = [("labelSelector", SELECTOR), ("limit", str(LIST_PAGE))] + (
                    [("continue", token)] if token else []
                )
                pages += 1
                body = bytearray()  # not b"".join: that holds every chunk and the joined copy at once
                try:
                    for chunk in self._get(kind, query, 60.0):
                        body += chunk
                except _NotFound:
                    objects, version = None, ""
                    break
                page = decoded(body, f"GET {kind.rtype.collection()}")  # a page that is not JSON: list again later
                del body
                scope, rtype = self.scope or EVERYTHING, kind.rtype
                items = page.pop("items", None) or []
                objects.extend(
                    live_object(rtype, item) for item in items if scope.keeps_item(rtype.api_version, rtype.kind, item)
                )
                del items
                meta = page.get("metadata") or {}
                token, version = meta.get("continue") or "", str(meta.get("resourceVersion") or version)
                if not token:
                    break
        with self._lock:
            if self.widenings != widenings:  # the scope widened during the list: its pages skipped what is kept now
                kind.wanted = True
                return
            kind.relisted(objects, version, pages)
            if self.scope is not None and self.scope.dropped:
                kind.drop(self.scope)  # narrowed during the list: its early pages kept what is dropped now
            self._settled.notify_all()

    def _watch(self, kind: KindCache) -> None:
        query = [
            ("labelSelector", SELECTOR),
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", kind.version),
            ("timeoutSeconds", str(WATCH_SECONDS)),
        ]
        for line in _lines(self._get(kind, query, WATCH_SECONDS + 30.0)):
            event = decoded(line, f"watch of {kind.rtype.collection()}")
            with self._lock:
                kind.event(str(event.get("type", "")), event.get("object") or {}, self.scope or EVERYTHING)
            if self._stop.is_set() or kind.wanted:
                return

    def _get(self, kind: KindCache, query: list[tuple[str, str]], read_timeout: float) -> Iterator[bytes]:
        """A streamed GET of the kind's collection, outside the backend's request count; raises _NotFound, Gone,
        _Wanted (a reader wants a list instead of this watch) or BackendError."""
        path = kind.rtype.collection()
        self.requests += 1
        for response in self.kube.stream(path, query, read_timeout):
            with self._lock:
                self._open[response] = kind
                if kind.wanted and not kind.listing:  # asked for a list before this watch could be ended
                    self._open.pop(response)
                    raise _Wanted
            try:
                if response.status == 404:
                    raise _NotFound
                if response.status == 410:
                    raise Gone(path)
                if response.status >= 400:
                    raise BackendError(f"GET {path}: HTTP {response.status} {response.data[:200]!r}")
                yield from response.stream(65536)
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                raise BackendError(f"watch of {path} broke: {exc}") from None
            finally:
                with self._lock:
                    self._open.pop(response, None)


class _NotFound(Exception):
    pass


class _Wanted(Exception):
    """A reader asked for a fresh list: the watch stops."""


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Newline-delimited JSON events from a stream of chunks."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())
    if pending.strip():
        yield pending
