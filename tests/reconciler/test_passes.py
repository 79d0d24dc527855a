"""The end of a pass: the tenants' revisions and the audit anchor, written like every fenced write.

A deposed leader must stop writing when its lease's time is up, and its last writes must not undo what was
written since it read (tests/integration/test_passes.py runs whole passes against the real API server).
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
from reconciler import anchors
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.fencing import Fence
from reconciler.gitsync import GitSource
from reconciler.passes import Reconciler, Settings
from reconciler.state import StateStore, TenantRevisions
from tests.reconciler.memkube import MemoryKube


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
        rec._finish(hanging, TenantRevisions({"t": "r1"}, "5"), {"t": "r2"}, rec.lane)
    assert time.monotonic() - began < 1.0, "the write ended when the lease did"
    assert _Hangs.seen and all(at < until for at, _ in _Hangs.seen), "nothing was sent after the lease ran out"


def test_the_single_lanes_revisions_never_undo_a_write_made_since_it_read_them(tmp_path: Path) -> None:
    kube = MemoryKube()
    store = StateStore(kube)  # type: ignore[arg-type]  # the KubeClient surface, in memory
    read = store.write(TenantRevisions({"a": "r1", "b": "r1"}))
    store.write(TenantRevisions({"a": "r1", "b": "r9"}, read.version))  # written since: another writer's
    rec = _reconciler(tmp_path, Fence())
    rec._finish(kube, read, {"a": "r2"}, rec.lane)  # type: ignore[arg-type]
    assert store.read().by_tenant == {"a": "r2", "b": "r9"}, "b's revision is the other writer's, kept"
    assert rec.lane.state is not None and rec.lane.state.by_tenant == {"a": "r2", "b": "r9"}
    calls = len(kube.calls)
    rec._finish(kube, rec.lane.state, {"a": "r3"}, rec.lane)  # type: ignore[arg-type]
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
    rec._finish(kube, state, {"t": "r1"}, rec.lane)  # revisions unchanged: only the anchor is written
    assert bounds == [2.5]
