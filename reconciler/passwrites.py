"""A pass's writes: its plan applied through the lane's fence, then the tenants' revisions and the audit anchor.

Every write of a pass goes through the lane's fence (`FencedBackend`: only while the lane's Lease is held, each
request cut to its remaining time), and outcomes are handed on as apply reports them, so when the API server
disappears in the middle (and apply's final inventory write raises) every change attempted still has its
outcome. The revisions are written over what is stored (a write that landed since the lane read them is never
undone), at the same time as the anchor: neither depends on the other. Apart from the pass, which decides what
to write and judges what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from controlplane.audit import Journal
from controlplane.plans import ObjectRef, Plan
from reconciler.applying import apply_plan
from reconciler.backends.base import ApplyOptions, Backend, BackendError, Outcome
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.fencing import FencedBackend
from reconciler.lane import Lane
from reconciler.settling import decided
from reconciler.state import StateStore, TenantRevisions


def apply_fenced(
    plan: Plan,
    backends: Mapping[str, Backend],
    revision: str | None,
    journal: Journal,
    unplanned: Mapping[str, frozenset[ObjectRef]] | None,
    lane: Lane,
    *,
    concurrency: int,
    progress: Callable[[Outcome], None],
) -> str | None:
    """Apply through the fence, each outcome to `progress`; `revision` is recorded with the inventory only when
    the pass is complete. Returns why the inventory write failed; a journal error propagates."""
    fenced = {name: FencedBackend(b, lane.fence) for name, b in backends.items()}
    scope = lane.covers if lane.sharded else None
    try:
        apply_plan(
            plan,
            fenced,
            ApplyOptions(revision=revision, field_manager="mlcp", scope=scope),
            concurrency=concurrency,
            progress=progress,
            authorize=decided,
            audit=journal,
            unplanned=unplanned,
        )
    except BackendError as exc:  # the inventory write at the end; every outcome is already collected
        return str(exc)
    return None


def finish(kube: KubeClient, state: TenantRevisions, converged: dict[str, str], lane: Lane) -> None:
    """The per-tenant revisions and the audit anchor, written at once: neither depends on the other (a crash
    between them leaves either one behind, as it could in either order), so a pass ends one round trip
    sooner. A failed revisions write still fails the pass, after the anchor went out."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        saving = pool.submit(save_state, kube, state, converged, lane)
        with kube.bounded(lane.fence.remaining):  # the anchor, like every fenced write, ends with the lease
            lane.audit.finish(kube, lane.fence.leading())
        saving.result()


def save_state(kube: KubeClient, state: TenantRevisions, converged: dict[str, str], lane: Lane) -> None:
    """Record the converged tenants' revisions, while leading and within the lease's time (as FencedBackend
    writes), over what is stored: a write that landed since this lane read them is never undone."""
    updated = state.updated(converged)
    if updated.by_tenant == state.by_tenant and state.version is not None:
        lane.state = state
        return
    if not lane.fence.leading():
        return
    store = StateStore(kube)
    with kube.bounded(lane.fence.remaining):
        lane.state = store.merge(converged) if lane.sharded else store.update(state, converged)
