"""The requests of the Lease protocol on one Lease: read it, make it, write it back over a change of its metadata
alone.

The election (reconciler.leader) decides what a record should say and when; how that record travels, and which
conflicts do not count, is this. A trigger or a request for a handover is a PATCH of the Lease's annotations
(reconciler.leasetrigger, `mlcp apply`): each bumps its resourceVersion, so a renewal or a release sent after one
got 409 though nothing it decides had changed (`put`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from controlplane.labels import FIELD_MANAGER
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import APPLY_PATCH, KubeClient, apply_query
from reconciler.backends.kubernetes_objects import NAMESPACE
from reconciler.leases import LEASES, LeaseConfig

WRITE_ATTEMPTS = 3
"""How often a renewal or a release is sent when the Lease's metadata alone changed since it was read (a
trigger, a request for a handover): those writes bump its resourceVersion without renewing anything."""


def read(kube: KubeClient, path: str) -> dict[str, Any] | None:
    """The Lease at `path`, or None when there is none."""
    try:
        return kube.request("GET", path)
    except HttpError as exc:
        if exc.status == 404:
            return None
        raise


def create(kube: KubeClient, config: LeaseConfig, spec: dict[str, Any]) -> None:
    """Make the Lease `config.name` with `spec`; the controller namespace first when nothing made it yet."""
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": config.name, "namespace": config.namespace},
        "spec": spec,
    }
    collection = LEASES.format(namespace=config.namespace)
    try:
        kube.request("POST", collection, body=body)
    except HttpError as exc:
        if exc.status != 404:
            raise
        _ensure_namespace(kube, config.namespace)  # a first start before anything created the controller namespace
        kube.request("POST", collection, body=body)


def _ensure_namespace(kube: KubeClient, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    query = apply_query(FIELD_MANAGER)
    kube.request("PATCH", NAMESPACE.path(None, namespace), query, body, APPLY_PATCH)


def put(kube: KubeClient, path: str, lease: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> bool:
    """PUT `lease` as read, with `change` made to it; False when the Lease changed otherwise than in its
    metadata since (409 on a fresh read too, or it went).

    A trigger or a request for a handover is a PATCH of the annotations: it bumps the resourceVersion, and a
    write sent after it got 409 though nothing the write decides had changed. Forwarded webhooks alone (any
    MLflow user moving their own model's alias sends one) made a third of a leader's renewals fail, and a few
    in a row cost it the Lease. Such a write is made again at once on a fresh read whose spec is the one
    first read; a spec anyone else changed (a renewal, a takeover) still fails it. The fresh annotations
    are looked at by the next round, which sees them changed.
    """
    first = copy.deepcopy(lease.get("spec") or {})
    for _ in range(WRITE_ATTEMPTS):
        body = copy.deepcopy(lease)
        change(body)
        try:
            kube.request("PUT", path, body=body)
            return True
        except HttpError as exc:
            if exc.status != 409:
                raise
        fresh = read(kube, path)
        if fresh is None or (fresh.get("spec") or {}) != first:
            return False
        lease = fresh
    return False
