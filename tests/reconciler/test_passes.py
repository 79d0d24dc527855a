"""The pass's bookkeeping between passes: what a tenant's failures leave behind once the tenant is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.plans import Action, LiveObject
from devenv import tenantrepo
from reconciler import sharding
from reconciler.fencing import Fence, was_attempted
from reconciler.loop import Loop, LoopConfig
from tests.reconciler.test_pass_cost import _reconciler
from tests.reconciler.test_shard_lanes import SHARDS, TENANTS, _lanes, _round, _tenant_of


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
    rec, root, _ = _reconciler(tmp_path, monkeypatch, 3)
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
    rec, _, _ = _reconciler(tmp_path, monkeypatch, TENANTS)
    lanes = _lanes(rec, tmp_path)
    _round(rec, lanes)
    _round(rec, lanes)
    victim = _tenant_of(0)
    cache = rec._backends[1]["kubernetes"].cache  # type: ignore[index,attr-defined]
    ref = next(r for r in cache.objects if r.kind == "NetworkPolicy" and r.namespace == victim)
    edited = cache.objects[ref].manifest | {"spec": {"podSelector": {}, "policyTypes": ["Egress"]}}
    cache.event(LiveObject(ref, edited, "999"))  # a hand edit, reported by the watch

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
    rec, root, _ = _reconciler(tmp_path, monkeypatch, TENANTS)
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
