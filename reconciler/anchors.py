"""The audit chain's head, published in the cluster after every pass (and every `mlcp apply`) that wrote records.

A log whose tail was cut off is still a valid chain, and whoever can write the
log can rebuild it. The anchor — ConfigMap `mlcp-audit-anchor` in the
controller namespace, which tenants cannot write — names the last record and
its hash, so `mlcp audit verify --anchor cluster` (and every writer, before
its turn) catches both. It is only as safe as that namespace: operators copy
it somewhere write-once (`mlcp audit anchor export`, docs/audit.md). Each shard's
chain has an anchor of its own, `mlcp-audit-anchor-shard-<i>`; `chains` finds
them, so a chain whose pointer was deleted or relabelled is still checked
against its anchor.
"""

from __future__ import annotations

from typing import Any

from controlplane.audit import Anchor, AuditError
from controlplane.audit.chains import is_chain_name
from controlplane.labels import FIELD_MANAGER, MANAGED_BY, MANAGER, ROLE_LABEL
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_client import APPLY_PATCH, KubeClient, apply_query
from reconciler.backends.kubernetes_objects import CONFIGMAP

NAME = "mlcp-audit-anchor"
ROLE = "audit-anchor"


def name_of(chain: str) -> str:
    """The anchor of a chain: the main one's, or a shard's (reconciler.auditstore)."""
    return f"{NAME}-{chain}" if chain else NAME


def source(kube: KubeClient, chain: str = "") -> str:
    return f"ConfigMap {kube.controller_namespace}/{name_of(chain)}"


def publish(kube: KubeClient, anchor: Anchor, chain: str = "") -> None:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name_of(chain),
            "namespace": kube.controller_namespace,
            "labels": {MANAGED_BY: MANAGER, ROLE_LABEL: ROLE},
        },
        "data": anchor.to_data(),
    }
    query = apply_query(FIELD_MANAGER, force=True)
    path = CONFIGMAP.path(kube.controller_namespace, name_of(chain))
    kube.request("PATCH", path, query, body, APPLY_PATCH)


def read(kube: KubeClient, chain: str = "") -> Anchor | None:
    """The published anchor, or None when none was published yet; AuditError when it cannot be read."""
    try:
        found = kube.get_or_none(CONFIGMAP.path(kube.controller_namespace, name_of(chain)))
    except BackendError as exc:
        raise AuditError(f"cannot read the audit anchor ({source(kube, chain)}): {exc}") from None
    return None if found is None else Anchor.from_data(found.get("data") or {}, source(kube, chain))


def chains(kube: KubeClient) -> list[str]:
    """The shard chains with an anchor published, by the anchors' role label (the main chain not included)."""
    query = [("labelSelector", f"{ROLE_LABEL}={ROLE}")]
    try:
        found = kube.request("GET", CONFIGMAP.collection(kube.controller_namespace), query)
    except BackendError as exc:
        raise AuditError(f"cannot list the audit anchors in {kube.controller_namespace}: {exc}") from None
    names = [str((item.get("metadata") or {}).get("name") or "") for item in found.get("items") or []]
    chains = (name.removeprefix(f"{NAME}-") for name in names if name.startswith(f"{NAME}-"))
    return sorted(chain for chain in chains if is_chain_name(chain))
