"""The loop with its watch cache against the real API server: no-op passes send nothing, drift is still healed."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane.plans import Action, Change, ObjectRef
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.kubernetes import KubernetesBackend, resources
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backends.kubernetes_watch import WatchCache
from tests.integration import configrepo
from tests.integration.reconcile_support import reconciler, wait_for

pytestmark = pytest.mark.integration


def _cpu(k8s_admin: client.ApiClient, namespace: str) -> str:
    quota = client.CoreV1Api(k8s_admin).read_namespaced_resource_quota("compute", namespace)
    return str(quota.spec.hard.get("requests.cpu"))


def test_a_noop_pass_sends_no_request_and_a_hand_edit_is_healed_by_the_next_pass(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    repo = configrepo.make(tmp_path, prefix)
    rec = reconciler(repo, kubeconfig, tmp_path, watch=True)
    try:
        assert rec.run_pass().converged
        [cache] = rec.watches
        assert isinstance(cache, WatchCache) and cache.wait_synced(30), "the watch cache did not sync"
        first = rec.run_pass()
        assert first.converged and first.outcomes == []
        noop = rec.run_pass()
        assert noop.converged and noop.outcomes == [] and noop.requests == 0

        core = client.CoreV1Api(k8s_admin)
        drift = {"spec": {"hard": {"requests.cpu": "999"}}}
        core.patch_namespaced_resource_quota("compute", repo.vision, drift, field_manager="kubectl-edit")
        synced = cache.snapshot()
        assert synced is not None
        ref = next(r for r in synced[0] if r.kind == "ResourceQuota" and r.namespace == repo.vision)

        def delivered() -> bool:
            objects = cache.snapshot()
            return objects is not None and objects[0][ref].manifest["spec"]["hard"]["requests.cpu"] == "999"

        wait_for(delivered, 15, "the watch to deliver the hand edit")
        healed = rec.run_pass()
        assert healed.converged and [o.change.ref for o in healed.outcomes] == [ref]
        assert _cpu(k8s_admin, repo.vision) == "32"
        after = rec.run_pass()
        assert after.converged and after.outcomes == [] and after.requests == 0, "the pass's own write is cached"
    finally:
        rec.close()


def test_a_hand_edit_is_healed_by_a_pass_that_plans_only_it_and_the_resync_catches_what_the_watch_missed(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = configrepo.make(tmp_path, prefix)
    rec = reconciler(repo, kubeconfig, tmp_path, watch=True, resync=3600.0)
    try:
        full = rec.run_pass()
        assert full.converged and full.selection is not None and full.selection.full
        [cache] = rec.watches
        assert isinstance(cache, WatchCache) and cache.wait_synced(30), "the watch cache did not sync"
        settled = rec.run_pass()  # takes the events of the first pass's own writes that came before the cache
        assert settled.converged and settled.outcomes == []
        quiet = rec.run_pass()
        assert quiet.selection is not None and quiet.selection.tenants == frozenset(), "nothing changed"
        assert quiet.outcomes == [] and quiet.requests == 0 and quiet.planned < full.planned / 2

        core = client.CoreV1Api(k8s_admin)
        synced = cache.snapshot()
        assert synced is not None
        ref = next(r for r in synced[0] if r.kind == "ResourceQuota" and r.namespace == repo.vision)

        def edit(cpu: str) -> None:
            core.patch_namespaced_resource_quota(
                "compute", repo.vision, {"spec": {"hard": {"requests.cpu": cpu}}}, field_manager="kubectl-edit"
            )

            def delivered() -> bool:
                objects = cache.snapshot()
                return objects is not None and objects[0][ref].manifest["spec"]["hard"]["requests.cpu"] == cpu

            wait_for(delivered, 15, "the watch to deliver the hand edit")

        edit("999")
        healed = rec.run_pass()
        assert healed.selection is not None and not healed.selection.full
        assert healed.converged and [o.change.ref for o in healed.outcomes] == [ref]
        assert healed.planned < full.planned / 2, "only the changed object (and the platform's few) were planned"
        assert _cpu(k8s_admin, repo.vision) == "32"

        edit("998")
        taken = cache.take_changed

        def lost() -> frozenset[ObjectRef]:  # the watch lost the events (the quota controller's status too)
            taken()
            return frozenset()

        monkeypatch.setattr(cache, "take_changed", lost)
        missed = rec.run_pass()
        assert missed.converged and missed.outcomes == [] and _cpu(k8s_admin, repo.vision) == "998"
        monkeypatch.undo()

        rec.settings = replace(rec.settings, resync=0.0)  # the resync interval is over
        lists = {key: kind.done for key, kind in cache.kinds.items() if not kind.missing}
        resync = rec.run_pass()
        assert resync.selection is not None and resync.selection.full and resync.requests > 0, "listed afresh"
        assert {key: cache.kinds[key].done for key in lists} == {k: n + 1 for k, n in lists.items()}, (
            "the cache listed every kind again, once, and the pass read that list (not one of its own)"
        )
        assert resync.converged and [o.change.ref for o in resync.outcomes] == [ref]
        assert _cpu(k8s_admin, repo.vision) == "32"
        rec.settings = replace(rec.settings, resync=3600.0)
        assert cache.wait_synced(30), "the cache watches on from its new lists"
        after = rec.run_pass()
        assert after.converged and after.outcomes == [] and after.requests == 0 and after.selection is not None
        assert not after.selection.full, "only what changed since the fresh read"
    finally:
        rec.close()


def test_fresh_reads_end_the_watches_without_leaving_their_connections_to_the_next_request(
    kubeconfig: Path,
) -> None:
    """A full pass ends every kind's watch to list again. A watch's connection handed back to the pool
    half-read made the next request on it wait behind the server's still-open watch (up to its 240 s): the
    loop's first pass hung in CI. Many fresh reads in a row, then an ordinary GET, each answer at once."""
    kube = KubeClient.from_kubeconfig(str(kubeconfig), None, "mlcp-system")
    cache = WatchCache(kube, resources()).start()
    try:
        assert cache.wait_synced(30), "the watch cache did not sync"
        for attempt in range(25):
            began = time.monotonic()
            assert cache.fresh(timeout=10) is not None, f"fresh read {attempt} did not complete"
            assert time.monotonic() - began < 10
            began = time.monotonic()
            kube.get_or_none("/api/v1/namespaces/default")
            assert time.monotonic() - began < 10, f"a GET after fresh read {attempt} waited on a watch's connection"
    finally:
        cache.close()


def _quota(core: client.CoreV1Api, namespace: str) -> client.V1ResourceQuota | None:
    try:
        return core.read_namespaced_resource_quota("compute", namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_a_hand_delete_racing_the_passs_heal_is_healed_by_the_next_pass(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member edits the quota, then deletes it the moment the pass has healed it: the watch delivers the
    DELETED before the apply thread handles the server's answer. The answer must not put the deleted object
    back in the cache, or every pass sees it present and converged until the resync (300 s)."""
    repo = configrepo.make(tmp_path, prefix)
    rec = reconciler(repo, kubeconfig, tmp_path, watch=True, resync=3600.0)
    core = client.CoreV1Api(k8s_admin)
    try:
        assert rec.run_pass().converged
        [cache] = rec.watches
        assert isinstance(cache, WatchCache) and cache.wait_synced(30)
        assert rec.run_pass().converged
        synced = cache.snapshot()
        assert synced is not None
        ref = next(r for r in synced[0] if r.kind == "ResourceQuota" and r.namespace == repo.vision)

        def held() -> dict[ObjectRef, Any]:
            objects = cache.snapshot()
            return objects[0] if objects is not None else {}

        core.patch_namespaced_resource_quota(
            "compute", repo.vision, {"spec": {"hard": {"requests.cpu": "999"}}}, field_manager="kubectl-edit"
        )
        wait_for(lambda: held()[ref].manifest["spec"]["hard"]["requests.cpu"] == "999", 15, "the hand edit")

        backend = next(b for b in rec.backends.values() if isinstance(b, KubernetesBackend))
        original = backend.client.server_side_apply

        def racing(path: str, body: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
            answer = original(path, body, *args, **kwargs)
            if body.get("kind") == "ResourceQuota" and body["metadata"]["namespace"] == repo.vision:
                core.delete_namespaced_resource_quota("compute", repo.vision)
                wait_for(lambda: ref not in held(), 15, "the watch to deliver the hand delete")
            return answer

        monkeypatch.setattr(backend.client, "server_side_apply", racing)
        healed = rec.run_pass()
        monkeypatch.undo()
        assert [o.change.ref for o in healed.outcomes] == [ref]
        assert _quota(core, repo.vision) is None, "deleted by hand after the pass's write"
        assert ref not in held(), "the cache holds an object the API server deleted"
        again = rec.run_pass()
        assert [o.change.ref for o in again.outcomes] == [ref] and _quota(core, repo.vision) is not None
    finally:
        rec.close()


def test_the_passs_delete_racing_a_re_creation_keeps_the_new_object_in_the_cache(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass deletes an object it manages and, before it handles the answer, the same name is created again
    (labelled as mlcp's) and the watch delivers both: the cache must keep the new object the server holds."""
    repo = configrepo.make(tmp_path, prefix)
    rec = reconciler(repo, kubeconfig, tmp_path, watch=True, resync=3600.0)
    core = client.CoreV1Api(k8s_admin)
    try:
        assert rec.run_pass().converged
        [cache] = rec.watches
        assert isinstance(cache, WatchCache) and cache.wait_synced(30)
        synced = cache.snapshot()
        assert synced is not None
        ref = next(r for r in synced[0] if r.kind == "ResourceQuota" and r.namespace == repo.vision)
        backend = next(b for b in rec.backends.values() if isinstance(b, KubernetesBackend))
        live = _quota(core, repo.vision)
        assert live is not None
        again = client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="compute", namespace=repo.vision, labels=live.metadata.labels),
            spec=client.V1ResourceQuotaSpec(hard={"requests.cpu": "1"}),
        )
        original = backend.client.request

        def racing(method: str, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
            answer = original(method, path, *args, **kwargs)
            if method == "DELETE":
                created = core.create_namespaced_resource_quota(repo.vision, again)
                version = int(created.metadata.resource_version)  # the quota controller's status write follows
                wait_for(lambda: ref in held() and int(held()[ref].version) >= version, 15, "the watch to deliver it")
            return answer

        def held() -> dict[ObjectRef, Any]:
            objects = cache.snapshot()
            return objects[0] if objects is not None else {}

        version = held()[ref].version
        change = Change(ref, Action.delete, "test", None, None, None, 0, live_version=version)
        monkeypatch.setattr(backend.client, "request", racing)
        outcome = backend.apply(change, ApplyOptions())
        monkeypatch.undo()
        assert outcome.status is Status.deleted and _quota(core, repo.vision) is not None
        assert ref in held(), "the object the API server holds vanished from the cache"
    finally:
        rec.close()
