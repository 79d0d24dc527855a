"""The watch cache's bookkeeping: list, then events; 410 and errors; the pass's own writes; no sync, no data;
fresh reads for a full pass (against a fake server's streams: one list per kind, or none and the pass lists)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import urllib3

from controlplane.plans import LiveObject, ObjectRef
from reconciler.backends import kubernetes_watch
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes import BY_KIND, RESOURCES
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backends.kubernetes_kindcache import Gone, KindCache
from reconciler.backends.kubernetes_objects import live_object
from reconciler.backends.kubernetes_scope import Scope
from reconciler.backends.kubernetes_watch import LIST_CONCURRENCY, WatchCache, _lines
from reconciler.backoff import Backoff

QUOTA = BY_KIND[("v1", "ResourceQuota")]


def _quota(name: str, version: str, cpu: str = "1") -> dict[str, Any]:
    meta = {"name": name, "namespace": "team", "resourceVersion": version}
    return {"metadata": meta, "spec": {"hard": {"requests.cpu": cpu}}}


def _listed(*items: dict[str, Any]) -> list[LiveObject]:
    """Items as a relist hands them to the cache: reduced as each page arrives."""
    return [live_object(QUOTA, item) for item in items]


def _ref(name: str) -> ObjectRef:
    return ObjectRef("kubernetes", "v1", "ResourceQuota", "team", name)


def test_a_list_then_events_keep_the_map_and_the_version_to_watch_from() -> None:
    kind = KindCache(QUOTA)
    kind.relisted(_listed(_quota("a", "5"), _quota("b", "6")), "7")
    assert kind.synced and set(kind.objects) == {_ref("a"), _ref("b")} and kind.version == "7"
    assert kind.objects[_ref("a")].manifest["kind"] == "ResourceQuota", "kind and apiVersion filled in as LIST does"
    kind.event("MODIFIED", _quota("a", "8", cpu="2"))
    kind.event("ADDED", _quota("c", "9"))
    kind.event("DELETED", _quota("b", "10"))
    kind.event("BOOKMARK", {"metadata": {"resourceVersion": "12"}})
    assert set(kind.objects) == {_ref("a"), _ref("c")} and kind.version == "12"
    assert kind.objects[_ref("a")].manifest["spec"]["hard"]["requests.cpu"] == "2"
    assert kind.objects[_ref("a")].version == "8"


def test_gone_asks_for_a_relist_and_other_errors_raise() -> None:
    kind = KindCache(QUOTA)
    kind.relisted([], "1")
    with pytest.raises(Gone):
        kind.event("ERROR", {"kind": "Status", "code": 410, "message": "too old resource version"})
    with pytest.raises(BackendError, match="boom"):
        kind.event("ERROR", {"kind": "Status", "code": 500, "message": "boom"})


def test_a_relist_replaces_everything_and_a_missing_api_is_synced_and_reported() -> None:
    kind = KindCache(QUOTA)
    kind.relisted(_listed(_quota("a", "5")), "5")
    kind.relisted(_listed(_quota("b", "6")), "6")
    assert set(kind.objects) == {_ref("b")}
    kind.relisted(None, "")
    assert kind.synced and kind.missing and not kind.objects


def test_own_writes_go_in_only_when_newer_than_what_the_watch_delivered() -> None:
    kind = KindCache(QUOTA)
    kind.relisted(_listed(_quota("a", "5")), "5")
    kind.written(_quota("a", "7", cpu="2"))
    assert kind.objects[_ref("a")].version == "7"
    kind.event("MODIFIED", _quota("a", "9", cpu="999"))  # a hand edit, delivered before the write's response
    kind.written(_quota("a", "8", cpu="2"))
    assert kind.objects[_ref("a")].manifest["spec"]["hard"]["requests.cpu"] == "999", "the newer edit is kept"
    kind.written(_quota("new", "10"))  # created by the pass, its ADDED not delivered yet
    assert kind.objects[_ref("new")].version == "10", "the next pass sees what it created"
    kind.deleted(_ref("a"), "9")
    assert _ref("a") not in kind.objects


def test_a_hand_delete_delivered_before_the_writes_answer_is_handled_stays_deleted() -> None:
    """The attacker deletes what the pass just healed, and the watch delivers it before the apply thread
    handles the server's answer: the cache must not hold the object again (the next pass would see it present
    and converged, and the delete would stand until the resync)."""
    kind = KindCache(QUOTA)
    kind.relisted(_listed(_quota("a", "9")), "9")
    kind.event("MODIFIED", _quota("a", "10"))  # the pass's write (answered with v10), then the hand delete
    kind.event("DELETED", _quota("a", "11"))
    kind.written(_quota("a", "10"))
    assert _ref("a") not in kind.objects, "the deleted object is back in the cache"
    kind.event("ADDED", _quota("a", "12"))  # deleted, and the watch has moved on past it (a bookmark)
    kind.event("DELETED", _quota("a", "13"))
    kind.event("BOOKMARK", {"metadata": {"resourceVersion": "20"}})
    kind.written(_quota("a", "12"))
    assert _ref("a") not in kind.objects
    kind.relisted(_listed(), "30")  # deleted before a relist (the watch broke): the list is the newer truth
    kind.written(_quota("a", "25"))
    assert _ref("a") not in kind.objects, "a list newer than the answer did not have the object"
    kind.written(_quota("a", "31"))
    assert _ref("a") in kind.objects, "the pass created it again after the list"


def test_the_passs_own_delete_does_not_drop_an_object_created_again_since() -> None:
    kind = KindCache(QUOTA)
    kind.relisted(_listed(_quota("a", "9")), "9")
    kind.event("DELETED", _quota("a", "10"))  # the pass deleted v9; someone created it again (v11) and the
    kind.event("ADDED", _quota("a", "11"))  # watch delivered both before the delete's answer was handled
    kind.deleted(_ref("a"), "9")
    assert _ref("a") in kind.objects, "the object the server holds vanished from the cache"
    kind.deleted(_ref("a"), "12")  # an answer naming the deletion's own version
    assert _ref("a") not in kind.objects


def test_versions_that_are_not_integers_are_not_trusted_over_the_watch() -> None:
    kind = KindCache(QUOTA)
    kind.relisted(_listed(_quota("a", "x9")), "x9")
    kind.written(_quota("b", "x10"))
    kind.deleted(_ref("a"), "x8")
    assert set(kind.objects) == {_ref("a")}, "neither answer is known to be newer: the watch will tell"
    kind.deleted(_ref("a"), "x9")
    assert not kind.objects, "the very object the pass deleted"


def test_no_snapshot_until_every_kind_is_synced() -> None:
    cache = WatchCache(KubeClient.__new__(KubeClient), RESOURCES)
    assert cache.snapshot() is None
    for kind in cache.kinds.values():
        kind.relisted([], "1")
    cache.kinds[("v1", "ResourceQuota")].relisted(_listed(_quota("a", "2")), "2")
    cache.kinds[("kubeflow.org/v1beta1", "Experiment")].relisted(None, "")
    synced = cache.snapshot()
    assert synced is not None and list(synced[0]) == [_ref("a")] and synced[1] == ("Experiment.kubeflow.org/v1beta1",)
    cache.kinds[("v1", "ResourceQuota")].synced = False
    assert cache.snapshot() is None, "a kind relisting after an error: the pass lists instead"


def test_events_are_split_on_newlines_across_chunks() -> None:
    chunks = iter([b'{"a":', b'1}\n{"b":2}\n\n{"c"', b":3}"])
    assert list(_lines(chunks)) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_changes_are_what_events_changed_not_the_echo_of_our_own_writes_and_a_relist_makes_them_unknown() -> None:
    cache = WatchCache(KubeClient.__new__(KubeClient), RESOURCES)
    for kind in cache.kinds.values():
        kind.relisted([], "1")
    quotas = cache.kinds[("v1", "ResourceQuota")]
    quotas.relisted(_listed(_quota("a", "5"), _quota("b", "6")), "6")
    assert cache.take_changed() is None, "a relist since the last look: anything may have changed"
    assert cache.take_changed() == frozenset()
    cache.written(_ref("a"), _quota("a", "7", cpu="2"))  # the pass's own write ...
    quotas.event("MODIFIED", _quota("a", "7", cpu="2"))  # ... and its echo: nothing new
    quotas.event("MODIFIED", _quota("b", "8", cpu="999"))  # a hand edit
    quotas.event("ADDED", _quota("c", "9"))
    quotas.event("DELETED", _quota("gone", "10"))  # never held: nothing changed
    assert cache.take_changed() == frozenset({_ref("b"), _ref("c")})
    quotas.event("DELETED", _quota("c", "11"))
    assert cache.take_changed() == frozenset({_ref("c")}), "taken once, then only what came after"
    quotas.synced = False
    assert cache.take_changed() is None, "a kind relisting after an error"


def test_the_cache_reports_its_objects_and_their_size_as_json_for_the_metrics() -> None:
    cache = WatchCache(KubeClient.__new__(KubeClient), RESOURCES)
    assert cache.stats() == (0, 0)
    quotas = _listed(*(_quota(f"q{i}", str(i)) for i in range(100)))
    cache.kinds[("v1", "ResourceQuota")].relisted(quotas, "100")
    objects, size = cache.stats(sample=10)
    one = len(orjson.dumps(quotas[0].manifest))
    assert objects == 100
    assert 90 * one <= size <= 110 * one, "estimated from a sample: about 100 objects of that size"


# -- fresh reads: the cache's own lists, read once -----------------------------------------------------------


class _Response:
    """A streamed response of the fake server: a LIST's body, or a watch that blocks until shut down."""

    def __init__(self, status: int, body: bytes | None) -> None:
        self.status, self.data, self.body = status, b"", body
        self.ended = threading.Event()

    def stream(self, _size: int) -> Iterator[bytes]:
        if self.body is not None:
            yield self.body
            return
        self.ended.wait(10)  # a watch: no event until it is shut down
        raise urllib3.exceptions.ProtocolError("connection shut down")

    def shutdown(self) -> None:
        self.ended.set()


class _Server(KubeClient):
    """Serves each kind's LIST from `objects` (500 for a kind in `broken`), counting lists and those at once."""

    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {"resourcequotas": [_quota("a", "5")]}
        self.broken: set[str] = set()
        self.garbled: set[str] = set()
        """Kinds whose LIST a proxy answers 200 with a page of its own, not JSON."""
        self.lists: dict[str, int] = {}
        self.at_once = self.most_at_once = 0
        self.gate = threading.Event()
        self.gate.set()
        self._guard = threading.Lock()

    def stream(self, path: str, query: list[tuple[str, str]], read_timeout: float) -> Iterator[Any]:
        plural = path.rsplit("/", 1)[-1]
        if ("watch", "true") in query:
            yield _Response(200, None)
            return
        with self._guard:
            self.lists[plural] = self.lists.get(plural, 0) + 1
            self.at_once += 1
            self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            self.gate.wait(10)
            time.sleep(0.01)  # long enough for lists of other kinds to overlap, if they may
            if plural in self.broken:
                yield _Response(500, b"{}")
                return
            if plural in self.garbled:
                yield _Response(200, b"<html><body>Session expired: please log in again</body></html>")
                return
            params = dict(query)
            start, limit = int(params.get("continue", "0")), int(params["limit"])
            listed = self.objects.get(plural, [])[start : start + limit]
            items = [dict(item, metadata=dict(item["metadata"])) for item in listed]
            more = str(start + limit) if start + limit < len(self.objects.get(plural, [])) else ""
            yield _Response(200, orjson.dumps({"metadata": {"resourceVersion": "9", "continue": more}, "items": items}))
        finally:
            with self._guard:
                self.at_once -= 1


def _started(server: _Server) -> WatchCache:
    return WatchCache(server, RESOURCES, Backoff(base=0.05, cap=0.05)).start()


def test_a_first_fresh_read_is_the_caches_initial_list_not_a_second_one_and_few_kinds_list_at_once() -> None:
    server = _Server()
    server.gate.clear()  # the initial lists are in flight when the pass asks
    cache = _started(server)
    try:
        threading.Timer(0.2, server.gate.set).start()
        listed = cache.fresh(timeout=10)
        assert listed is not None
        objects, missing, pages = listed
        assert list(objects) == [_ref("a")] and missing == ()
        assert server.lists == {r.plural: 1 for r in RESOURCES}, "one list per kind: the cache's, read by the pass"
        assert pages == len(RESOURCES), "the pass is told what its read cost"
        assert server.most_at_once <= LIST_CONCURRENCY
        assert cache.take_changed() == frozenset(), "the fresh read took the changes until then"
    finally:
        cache.close()


def test_a_fresh_read_after_the_sync_is_a_new_list_that_sees_what_the_watch_missed() -> None:
    server = _Server()
    cache = _started(server)
    try:
        assert cache.wait_synced(10)
        server.objects["resourcequotas"] = [_quota("a", "7", cpu="999"), _quota("b", "8")]  # no event delivered
        stale = cache.snapshot()
        assert stale is not None and set(stale[0]) == {_ref("a")}
        listed = cache.fresh(timeout=10)
        assert listed is not None and set(listed[0]) == {_ref("a"), _ref("b")}
        assert listed[0][_ref("a")].manifest["spec"]["hard"]["requests.cpu"] == "999"
        assert server.lists == {r.plural: 2 for r in RESOURCES}, "every kind listed again, once"
        assert cache.wait_synced(10), "and the cache watches on from the new list"
    finally:
        cache.close()


def test_a_failing_kind_makes_a_fresh_read_give_up_so_the_pass_lists_itself() -> None:
    server = _Server()
    server.broken.add("resourcequotas")
    cache = _started(server)
    try:
        began = time.monotonic()
        assert cache.fresh(timeout=10) is None
        assert time.monotonic() - began < 5, "a failed list ends the wait; it does not run to the timeout"
        assert cache.snapshot() is None
        server.broken.clear()
        assert cache.wait_synced(10), "the cache recovers on its own after the backoff"
        assert cache.fresh(timeout=10) is not None
    finally:
        cache.close()


def test_a_list_page_that_is_not_json_fails_the_kind_which_recovers_instead_of_its_thread_dying() -> None:
    # a proxy answering 200 with its login page: orjson's JSONDecodeError ended the kind's thread, so the kind was
    # never listed or watched again and every later pass listed it itself, for the life of the process
    server = _Server()
    server.garbled.add("resourcequotas")
    cache = _started(server)
    try:
        assert cache.fresh(timeout=10) is None, "the kind failed: the pass lists itself"
        server.garbled.clear()
        assert cache.wait_synced(10), "the kind is listed again after its backoff"
        listed = cache.fresh(timeout=10)
        assert listed is not None and set(listed[0]) == {_ref("a")}
    finally:
        cache.close()


def test_a_fresh_read_that_times_out_or_a_closed_cache_gives_none() -> None:
    server = _Server()
    server.gate.clear()
    cache = _started(server)
    try:
        assert cache.fresh(timeout=0.2) is None
    finally:
        server.gate.set()
        cache.close()
    assert cache.fresh(timeout=10) is None


def test_a_kind_is_listed_a_page_at_a_time_and_its_pages_are_the_requests_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kubernetes_watch, "LIST_PAGE", 2)
    server = _Server()
    server.objects["resourcequotas"] = [_quota(f"q{i}", str(i)) for i in range(5)]
    cache = _started(server)
    try:
        listed = cache.fresh(timeout=10)
        assert listed is not None and len(listed[0]) == 5
        # 5 items, 2 a page: 3 pages a list; a second list when the first ended before `fresh` asked (a race)
        assert server.lists["resourcequotas"] in (3, 6) and listed[2] == len(RESOURCES) - 1 + 3
    finally:
        cache.close()


# -- a sharded replica's scope (kubernetes_scope) -------------------------------------------------------------


def _in(namespace: str, name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": version}, "spec": {}}


def _at(namespace: str, name: str) -> ObjectRef:
    return ObjectRef("kubernetes", "v1", "ResourceQuota", namespace, name)


def test_a_scoped_cache_lists_nothing_before_its_scope_then_keeps_only_what_it_covers() -> None:
    server = _Server()
    server.objects["resourcequotas"] = [_in("mine", "a", "1"), _in("theirs", "b", "2"), _in("shared", "c", "3")]
    cache = WatchCache(server, RESOURCES, Backoff(base=0.05, cap=0.05), scoped=True).start()
    try:
        time.sleep(0.2)
        assert server.lists == {} and cache.snapshot() is None, "no list of the whole cluster before the scope"
        cache.rescope(Scope(frozenset({"theirs"})))
        held = cache.settled(timeout=10)
        assert held is not None and set(held[0]) == {_at("mine", "a"), _at("shared", "c")}
        quotas = cache.kinds[("v1", "ResourceQuota")]
        with cache._lock:
            quotas.event("ADDED", _in("theirs", "d", "4"), cache.scope or Scope())
            quotas.event("ADDED", _in("mine", "e", "5"), cache.scope or Scope())
        assert set(quotas.objects) == {_at("mine", "a"), _at("shared", "c"), _at("mine", "e")}
        assert cache.stats()[0] == 3, "the metric counts what this replica holds"
    finally:
        cache.close()


def test_a_narrowed_scope_drops_at_once_and_a_widened_one_is_listed_before_it_is_read_with_its_changes_kept() -> None:
    server = _Server()
    server.objects["resourcequotas"] = [_in("mine", "a", "1"), _in("theirs", "b", "2")]
    cache = WatchCache(server, RESOURCES, Backoff(base=0.05, cap=0.05), scoped=True).start()
    try:
        cache.rescope(Scope(frozenset({"theirs"})))
        assert cache.settled(timeout=10) is not None
        assert cache.take_changed() is None, "the first lists: anything may have changed"
        assert not cache.rescope(Scope(frozenset({"theirs", "mine"}))), "narrowed, not widened"
        held = cache.snapshot()
        assert held is not None and held[0] == {}, "a shard given away: its objects are let go at once"
        server.gate.clear()  # the relist of the widened scope is in flight ...
        server.objects["resourcequotas"] = [_in("mine", "a", "1"), _in("theirs", "b", "7")]
        assert cache.rescope(Scope(frozenset()))
        assert cache.snapshot() is None, "... and nothing is read without the new shard's objects"
        assert cache.take_changed() == frozenset(), "changes until now are still known, not lost to the relist"
        threading.Timer(0.2, server.gate.set).start()
        held = cache.settled(timeout=10)
        assert held is not None and set(held[0]) == {_at("mine", "a"), _at("theirs", "b")}
        assert cache.take_changed() == frozenset({_at("mine", "a"), _at("theirs", "b")}), "compared with what was held"
    finally:
        server.gate.set()
        cache.close()
