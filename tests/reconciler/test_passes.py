"""A pass's bookkeeping and its last writes.

What a tenant's failures leave behind once the tenant is gone, and what the lane remembers of a pass whose writes
were not all attempted. The end of a pass, the tenants' revisions and the audit anchor, is written like every
fenced write: a deposed leader must stop writing when its lease's time is up, and its last writes must not undo
what was written since it read (tests/integration/test_passes.py runs whole passes against the real API server).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from kubernetes.client import ApiClient, Configuration

from controlplane.audit import JsonlStore
from controlplane.plans import Action
from devenv import tenantrepo
from reconciler import anchors, passwrites, sharding
from reconciler.auditstore import ClusterStore
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backends.kubernetes_inventory import REVISION_ANNOTATION
from reconciler.fencing import Fence, Unheld, was_attempted
from reconciler.gitsync import GitSource
from reconciler.loop import Loop, LoopConfig
from reconciler.passes import Reconciler, Settings
from reconciler.state import StateStore, TenantRevisions
from tests.controlplane.audit.conftest import make_record
from tests.reconciler.memkube import MemoryKube
from tests.reconciler.test_pass_cost import NAMESPACE as COST_NAMESPACE
from tests.reconciler.test_pass_cost import _reconciler as _seeded
from tests.reconciler.test_shard_lanes import SHARDS, TENANTS, _hand_edit, _lanes, _round


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_broken_tenant_removed_from_the_repo_leaves_no_backoff_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant set aside and then removed left nothing to plan, so nothing ever succeeded for it: its entry
    stayed, the gauge with it, and its past retry time scheduled a pass (git fetch and all) every 50 ms."""
    rec, root, _ = _seeded(tmp_path, monkeypatch, 3)
    clock = Clock()
    rec.clock = clock
    first = rec.run_pass()
    assert first.error is None and first.converged

    # a new tenant folder whose tenant.yaml is invalid: set aside, backing off (nothing of it is ever written)
    folder = root / "tenants" / "newbie"
    folder.mkdir()
    (folder / "tenant.yaml").write_text(
        "apiVersion: mlcp.dev/v1alpha1\nkind: Tenant\nmetadata: {name: newbie}\nspec: {bogus: 1}\n"
    )
    tenantrepo.git(root, "add", "-A")
    tenantrepo.git(root, "commit", "-qm", "add newbie (broken)")
    broken = rec.run_pass()
    assert "newbie" in broken.failed, broken.failed

    # the fix: the folder is removed again
    tenantrepo.git(root, "rm", "-rq", "tenants/newbie")
    tenantrepo.git(root, "commit", "-qm", "drop newbie")
    clock.now += 10
    fixed = rec.run_pass()
    assert fixed.error is None and fixed.converged, (fixed.error, fixed.failed, fixed.held)
    clock.now += 10
    again = rec.run_pass()
    assert again.error is None and again.converged

    loop = Loop(rec, LoopConfig(interval=30.0), None, clock)
    delay = loop._delay(again)
    rec.close()
    assert delay == 30.0, f"next pass in {delay}s instead of the 30s interval; entries: {list(rec.tracker.entries)}"
    assert "newbie" not in rec.tracker.entries


def test_a_drift_whose_write_was_not_attempted_is_planned_again_by_the_next_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renewal came late, so the fence's window left the heal unattempted; the pass had no error and its lane
    remembered the watch's change as done, so the drift stayed until the next full resync."""
    rec, _, _ = _seeded(tmp_path, monkeypatch, TENANTS)
    lanes = _lanes(rec, tmp_path)
    _round(rec, lanes)
    _round(rec, lanes)
    ref = _hand_edit(rec)  # a hand edit, reported by the watch

    lane = lanes["0"]
    good = lane.fence
    # the shard's renewal is late: 1 s left, a write needs 2.5 s (ShardedLoop's window), no patience left
    lane.fence = Fence(lambda: True, good.stopping, lambda: 1.0, window=2.5, patience=0.0)
    late = rec.run_pass(lane)
    assert late.error is None and late.abandoned == 1
    assert [o.change.ref for o in late.outcomes if not was_attempted(o)] == [ref]

    lane.fence = good  # renewed: the next pass "picks it up" (docs/operations.md)
    nxt = rec.run_pass(lane)
    rec.close()
    assert [(o.change.ref, o.change.action) for o in nxt.outcomes] == [(ref, Action.update)], (
        f"the drift is left in place until the next full resync; planned={nxt.planned}, selection={nxt.selection}"
    )


def test_a_new_tenant_whose_creates_were_not_attempted_is_created_by_the_next_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, root, _ = _seeded(tmp_path, monkeypatch, TENANTS)
    lanes = _lanes(rec, tmp_path)
    _round(rec, lanes)
    _round(rec, lanes)
    name = next(n for i in range(100) if sharding.shard_of(n := f"newbie{i}", SHARDS) == 0)
    folder = root / "tenants" / name
    folder.mkdir()
    (folder / "tenant.yaml").write_text(tenantrepo.TENANT.format(name=name, i=99))
    tenantrepo.git(root, "add", "-A")
    tenantrepo.git(root, "commit", "-qm", f"add {name}")
    rec.run_pass(lanes["platform"])

    lane = lanes["0"]
    good = lane.fence
    lane.fence = Fence(lambda: True, good.stopping, lambda: 1.0, window=2.5, patience=0.0)
    late = rec.run_pass(lane)
    assert late.error is None and late.abandoned > 0 and not any(was_attempted(o) for o in late.outcomes)

    lane.fence = good
    nxt = rec.run_pass(lane)
    rec.close()
    created = {o.change.ref.kind for o in nxt.outcomes if o.change.tenant == name}
    assert "Namespace" in created, f"{name} is not created until the next full resync; selection={nxt.selection}"


def _reconciler(tmp_path: Path, fence: Fence) -> Reconciler:
    source = GitSource(str(tmp_path), "main", tmp_path / "clone")
    return Reconciler(source, Settings(), JsonlStore(tmp_path / "a.jsonl"), fence=fence)


class _Hangs(BaseHTTPRequestHandler):
    """An API server that takes every request and never answers it."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[float, str]]] = []
    released = threading.Event()

    def _hang(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Hangs.seen.append((time.monotonic(), self.command))
        _Hangs.released.wait(15)

    do_GET = do_POST = do_PATCH = _hang

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def hanging() -> Iterator[KubeClient]:
    _Hangs.seen = []
    _Hangs.released.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hangs)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield KubeClient(ApiClient(Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")))
    finally:
        _Hangs.released.set()
        server.shutdown()
        server.server_close()


def test_the_revisions_written_at_the_end_of_a_pass_end_with_the_lease(tmp_path: Path, hanging: KubeClient) -> None:
    # the state write checked the lease once, then waited its own 10 s read timeout: a deposed leader's write of
    # the revisions could land well after another replica took the Lease
    until = time.monotonic() + 0.5
    fence = Fence(leading=lambda: time.monotonic() < until, remaining=lambda: until - time.monotonic())
    rec = _reconciler(tmp_path, fence)
    began = time.monotonic()
    with pytest.raises(BackendError):
        passwrites.finish(hanging, TenantRevisions({"t": "r1"}, "5"), {"t": "r2"}, rec.lane)
    assert time.monotonic() - began < 1.0, "the write ended when the lease did"
    assert _Hangs.seen and all(at < until for at, _ in _Hangs.seen), "nothing was sent after the lease ran out"


def test_the_single_lanes_revisions_never_undo_a_write_made_since_it_read_them(tmp_path: Path) -> None:
    kube = MemoryKube()
    store = StateStore(kube)  # type: ignore[arg-type]  # the KubeClient surface, in memory
    read = store.write(TenantRevisions({"a": "r1", "b": "r1"}))
    store.write(TenantRevisions({"a": "r1", "b": "r9"}, read.version))  # written since: another writer's
    rec = _reconciler(tmp_path, Fence())
    passwrites.finish(kube, read, {"a": "r2"}, rec.lane)  # type: ignore[arg-type]
    assert store.read().by_tenant == {"a": "r2", "b": "r9"}, "b's revision is the other writer's, kept"
    assert rec.lane.state is not None and rec.lane.state.by_tenant == {"a": "r2", "b": "r9"}
    calls = len(kube.calls)
    passwrites.finish(kube, rec.lane.state, {"a": "r3"}, rec.lane)  # type: ignore[arg-type]
    assert len(kube.calls) == calls + 1, "without a write in between, one conditional request as before"


def test_the_audit_anchor_published_at_the_end_of_a_pass_is_bounded_by_the_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = KubeClient(ApiClient(Configuration(host="http://127.0.0.1:9")))
    bounds: list[float | None] = []
    monkeypatch.setattr(anchors, "publish", lambda client, *_a: bounds.append(client.deadline.left()))
    rec = _reconciler(tmp_path, Fence(remaining=lambda: 2.5))
    rec.pass_audit._expected = "a" * 64  # the chain's new head, not published yet
    state = TenantRevisions({"t": "r1"}, "5")
    passwrites.finish(kube, state, {"t": "r1"}, rec.lane)  # revisions unchanged: only the anchor is written
    assert bounds == [2.5]


def _commit_file(root: Path, rel: str, text: str, message: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, encoding="utf-8")
    tenantrepo.git(root, "add", "-A")
    tenantrepo.git(root, "commit", "-qm", message)


def test_a_newcomer_folder_named_as_a_tenants_model_sets_only_the_newcomer_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder the trusted base does not know took an applied tenant's model name, and the tenant was set aside and
    backing off; also in a restarted controller's first pass, whose load cannot know the base yet (it is read
    with the live state) and is validated again once it is."""
    rec, root, _ = _seeded(tmp_path, monkeypatch, 2)
    tenant = tenantrepo.tenant_name("t", 0)
    model = f"{tenant}-detector"
    promotion = "apiVersion: mlcp.dev/v1alpha1\nkind: ModelPromotion\nmetadata: {name: p}\n"
    promotion += f"spec: {{model: {model}, alias: production, version: 1}}\n"
    _commit_file(root, f"tenants/{tenant}/p.yaml", promotion, "promote")
    first = rec.run_pass()
    assert first.error is None and first.converged, (first.error, first.failed)

    newcomer = "apiVersion: mlcp.dev/v1alpha1\nkind: Tenant\nmetadata: {name: %s}\nspec: {owners: [c@example.com]}\n"
    _commit_file(root, f"tenants/{model}/tenant.yaml", newcomer % model, "a team of my own")
    restarted = Reconciler(rec.source, rec.settings, JsonlStore(tmp_path / "restarted.jsonl"))
    for reconciler in (rec, restarted):  # a controller that knows the base from its last pass, and a new one
        squatted = reconciler.run_pass()
        assert squatted.error is None, squatted.error
        assert set(squatted.failed) == {model}, squatted.failed
        assert "would take registered model" in squatted.failed[model]
        assert tenant not in reconciler.tracker.entries, "the applied tenant is not backing off"
        reconciler.close()


def _applied(kube: MemoryKube) -> str | None:
    found = kube.get_or_none(f"/api/v1/namespaces/{COST_NAMESPACE}/configmaps/mlcp-inventory") or {}
    return ((found.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)


def test_a_set_aside_folder_keeps_the_trusted_base_in_the_sharded_platform_lane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform lane covers no tenant, so a tenant set aside in it held nothing back, and the revision in which
    a stranger added a broken tenant.yaml became the trusted base: her folder was then a tenant of the base, which
    keeps the registry names it owns there (tests/integration/attacks/test_broken_folder_base.py)."""
    rec, root, kube = _seeded(tmp_path, monkeypatch, TENANTS)
    lanes = _lanes(rec, tmp_path)
    _round(rec, lanes)
    base = _applied(kube)
    assert base == tenantrepo.git(root, "rev-parse", "HEAD").strip()

    broken = "apiVersion: mlcp.dev/v1alpha1\nkind: Tenant\nmetadata: {name: newbie}\nspec: {owners: c@example.com}\n"
    _commit_file(root, "tenants/newbie/tenant.yaml", broken, "a team of my own")
    for _ in range(2):
        results = {name: rec.run_pass(lane) for name, lane in lanes.items()}
        assert any("newbie" in r.failed for r in results.values()), {n: r.failed for n, r in results.items()}
        assert _applied(kube) == base, "the stranger's unloaded folder became part of the trusted base"

    tenantrepo.git(root, "rm", "-rq", "tenants/newbie")
    tenantrepo.git(root, "commit", "-qm", "no such team")
    _round(rec, lanes)
    assert _applied(kube) == tenantrepo.git(root, "rev-parse", "HEAD").strip(), "with the folder gone it moves on"
    rec.close()


def test_the_loops_audit_appends_end_with_the_lease(tmp_path: Path, hanging: KubeClient) -> None:
    # an append to the cluster log was bounded by nothing: a deposed leader's outcomes landed among the next
    # holder's records (reconciler.fencing, "An audit append is a write too")
    until = time.monotonic() + 0.5
    fence = Fence(leading=lambda: time.monotonic() < until, remaining=lambda: until - time.monotonic())
    source = GitSource(str(tmp_path), "main", tmp_path / "clone")
    rec = Reconciler(source, Settings(), ClusterStore(hanging), fence=fence)
    began = time.monotonic()
    with pytest.raises(Unheld):
        rec.lane.audit.store.append(make_record(1))
    assert time.monotonic() - began < 1.0, "the append ended when the lease did"
    assert _Hangs.seen and all(at < until for at, _ in _Hangs.seen), "nothing was sent after the lease ran out"
    with pytest.raises(Unheld, match="no longer holds the Lease"):
        rec.lane.audit.store.append(make_record(1))
