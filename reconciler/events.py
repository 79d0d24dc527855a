"""Kubernetes Events on the objects the loop changes, so `kubectl describe` tells the story.

A person looking at a quota that just changed sees "Applied by mlcp from
commit abc123 (Quota/vision/compute)" next to it, without knowing mlcp exists.
Events are best-effort by design: they are sent after the writes, never
block or fail a pass, are capped per pass (a first apply of a thousand
tenants should not double its own request count), and pass the same fence as
writes. Cluster-scoped objects get their events in `default`, where kubectl
looks for them. A message quotes the API server, which quotes tenants' values:
it is shown (controlplane.showable) before it is sent, since `kubectl describe`
prints it to an operator's terminal as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from controlplane.showable import shown
from reconciler import logs
from reconciler.backends.base import BackendError, Outcome, Status
from reconciler.backends.deadline import Remaining
from reconciler.backends.kubernetes_client import KubeClient

COMPONENT = "mlcp-reconciler"
MAX_PER_PASS = 200
_REASONS = {
    Status.applied: ("Normal", "Applied"),
    Status.deleted: ("Normal", "Pruned"),
    Status.failed: ("Warning", "ApplyFailed"),
}


def event_for(outcome: Outcome, revision: str | None, instance: str) -> dict[str, Any] | None:
    """The Event describing `outcome`, or None when nothing happened worth telling."""
    kind = _REASONS.get(outcome.status)
    change = outcome.change
    if kind is None or change.ref.system != "kubernetes":
        return None
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ref = change.ref
    what = f"{change.action.value} from commit {(revision or 'unknown')[:12]}" + (
        f" ({change.spec})" if change.spec else ""
    )
    message = shown(f"{what}: {outcome.message}" if outcome.message else what)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{ref.name[:200]}.", "namespace": ref.namespace or "default"},
        "involvedObject": {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "name": ref.name,
            **({"namespace": ref.namespace} if ref.namespace else {}),
        },
        "type": kind[0],
        "reason": kind[1],
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": f"mlcp.dev/{COMPONENT}",
        "reportingInstance": instance[:128],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


def publish(
    kube: KubeClient,
    outcomes: Iterable[Outcome],
    revision: str | None,
    instance: str,
    may_write: Callable[[], bool],
    remaining: Remaining = lambda: None,
) -> int:
    """Post one Event per changed object (at most MAX_PER_PASS); returns how many were posted. Each is fenced
    like any write: posted only while `may_write`, and never past the `remaining` time of the lease."""
    events = [e for o in outcomes if (e := event_for(o, revision, instance))][:MAX_PER_PASS]

    def post(event: dict[str, Any]) -> bool:
        if not may_write():
            return False
        path = f"/api/v1/namespaces/{event['metadata']['namespace']}/events"
        try:
            with kube.bounded(remaining):
                kube.request("POST", path, body=event)
        except BackendError as exc:
            logs.get().debug("event not recorded", extra={"error": str(exc)})
            return False
        return True

    with ThreadPoolExecutor(max_workers=4) as pool:
        return sum(pool.map(post, events))
