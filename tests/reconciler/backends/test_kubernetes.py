"""Where the Kubernetes backend reads live state: the watch cache when it can answer, a fresh list of its own when
not; a full pass's read (after `forget`) is the cache's fresh lists, counted as the pass's requests."""

from __future__ import annotations

from typing import Any

from kubernetes.client import ApiClient, Configuration

from controlplane.plans import LiveObject, ObjectRef
from reconciler.backends.kubernetes import RESOURCES, KubernetesBackend
from reconciler.backends.kubernetes_client import KubeClient

QUOTA = ObjectRef("kubernetes", "v1", "ResourceQuota", "team", "compute")
LIVE = {QUOTA: LiveObject(QUOTA, {"kind": "ResourceQuota"}, "5")}


class _Client(KubeClient):
    """Answers LISTs with nothing (the inventory's, in the controller namespace, too), counting the kinds' LISTs."""

    def __init__(self) -> None:
        configuration = Configuration()
        configuration.host = "https://127.0.0.1:1"
        super().__init__(ApiClient(configuration), "mlcp-system")
        self.lists = 0

    def request(self, method: str, path: str, query: list[tuple[str, str]] | None = None, *_a: Any, **_k: Any) -> Any:
        with self._count_lock:
            self._requests += 1
        if query and any(name == "labelSelector" for name, _ in query):
            self.lists += not path.endswith("/namespaces/mlcp-system/configmaps")
            return {"metadata": {}, "items": []}
        return {}


class _Cache:
    """A watch cache that is synced (`snapshot`) and can list afresh (`fresh`), or cannot (None)."""

    def __init__(self, synced: bool = True, fresh: bool = True) -> None:
        self.synced, self.can_list, self.fresh_reads = synced, fresh, 0

    def snapshot(self) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...]] | None:
        return (LIVE, ()) if self.synced else None

    def fresh(self) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...], int] | None:
        self.fresh_reads += 1
        return (LIVE, (), 15) if self.can_list else None

    def written(self, ref: ObjectRef, item: dict[str, Any] | None) -> None:
        return

    def take_changed(self) -> frozenset[ObjectRef] | None:
        return frozenset()


def _backend(cache: _Cache) -> tuple[KubernetesBackend, _Client]:
    client = _Client()
    backend = KubernetesBackend(client)
    backend.cache = cache
    return backend, client


def test_a_full_pass_reads_the_caches_fresh_lists_and_counts_them_instead_of_listing_beside_it() -> None:
    cache = _Cache()
    backend, client = _backend(cache)
    backend.forget()  # a full pass (the controller started, a resync, a new term)
    state = backend.read()
    assert state.objects == LIVE and cache.fresh_reads == 1
    assert client.lists == 0, "no LIST of its own: the cache's lists are the read"
    assert client.requests == 15 + 1, "the cache's list pages and the inventory's LIST are this read's requests"
    noop = backend.read()
    assert noop.objects == LIVE and cache.fresh_reads == 1 and client.requests == 16, "then the watch: no request"


def test_a_cache_that_cannot_list_afresh_makes_the_full_pass_list_itself() -> None:
    cache = _Cache(fresh=False)
    backend, client = _backend(cache)
    backend.forget()
    assert backend.read().objects == {} and cache.fresh_reads == 1
    assert client.lists == len(RESOURCES), "one LIST per kind: the cache failed, so the pass read for itself"


def test_an_unsynced_cache_makes_an_incremental_read_list() -> None:
    backend, client = _backend(_Cache(synced=False))
    backend.read()
    assert client.lists == len(RESOURCES)
