"""The loop's memory, kept in the cluster: which revision each tenant last converged to.

A pass can be partial (a tenant with a broken spec or a denied change stays
behind), so one applied revision is not enough: the authorizer must judge a
lagging tenant's changes by the commits since *its* last applied revision.
Kept in a ConfigMap next to mlcp's inventory, so a restarted controller or a
new leader picks up exactly where the last one stopped. Stored grouped by
revision ({revision: [tenants]}): nearly every tenant shares one, so 1,000
tenants take a few kilobytes. Only the leader writes, and only when it changed,
conditional on the version it read (`update`); with shards, each shard's holder
merges its own tenants' revisions (`merge`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane.labels import FIELD_MANAGER, MANAGED_BY, MANAGER, ROLE_LABEL
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import APPLY_PATCH, KubeClient, apply_query
from reconciler.backends.kubernetes_objects import CONFIGMAP, NAMESPACE

NAME = "mlcp-reconciler-state"
KEY = "revisions.json"


@dataclass
class TenantRevisions:
    """Tenant ("" for objects of no tenant) → the revision it last converged to."""

    by_tenant: dict[str, str] = field(default_factory=dict)
    version: str | None = None

    def encode(self) -> str:
        """{revision: [tenants]} with sorted keys and tenants (grouped first, then each group's names sorted: a
        sort of strings, not of 10,000 (tenant, revision) pairs)."""
        grouped: dict[str, list[str]] = {}
        for tenant, revision in self.by_tenant.items():
            grouped.setdefault(revision, []).append(tenant)
        for tenants in grouped.values():
            tenants.sort()
        return json.dumps(grouped, sort_keys=True, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str, version: str | None = None) -> TenantRevisions:
        grouped = json.loads(text) if text else {}
        return cls({t: rev for rev, tenants in grouped.items() for t in tenants}, version)

    def updated(self, converged: Mapping[str, str]) -> TenantRevisions:
        return TenantRevisions({**self.by_tenant, **converged}, self.version)


class StateStore:
    """Reads and writes the state ConfigMap in the controller namespace."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    @property
    def namespace(self) -> str:
        return self.kube.controller_namespace

    def read(self) -> TenantRevisions:
        try:
            cm = self.kube.request("GET", CONFIGMAP.path(self.namespace, NAME))
        except HttpError as exc:
            if exc.status == 404:
                return TenantRevisions()
            raise
        data = cm.get("data") or {}
        return TenantRevisions.decode(data.get(KEY, ""), str(cm.get("metadata", {}).get("resourceVersion", "")))

    def update(self, state: TenantRevisions, converged: Mapping[str, str]) -> TenantRevisions:
        """The single lane's write: `converged` over `state`, conditional on the version it was read at (one
        request, as before), so a write that landed since (a replica that still thought it led, a hand edit) is
        never undone; on a conflict, `converged` is merged over what is stored now."""
        try:
            return self.write(state.updated(converged), conditional=True)
        except HttpError as exc:
            if exc.status != 409:
                raise
        return self.merge(converged)

    def merge(self, converged: Mapping[str, str], attempts: int = 8) -> TenantRevisions:
        """With shards: write `converged` over the revisions as stored now, conditional on what was read, so
        writers of different shards never undo each other's. Raises BackendError when others kept winning."""
        for _ in range(attempts):
            state = self.read()
            updated = state.updated(converged)
            if updated.by_tenant == state.by_tenant and state.version is not None:
                return state
            try:
                return self.write(updated, conditional=True)
            except HttpError as exc:
                if exc.status != 409:
                    raise
        raise BackendError(f"writing {NAME}: other writers wrote it {attempts} times in a row; the next pass retries")

    def write(self, state: TenantRevisions, conditional: bool = False) -> TenantRevisions:
        query = apply_query(FIELD_MANAGER, force=True)
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        if state.version is None:  # first write: the namespace may not exist yet
            self.kube.request("PATCH", NAMESPACE.path(None, self.namespace), query, namespace, APPLY_PATCH)
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": NAME,
                "namespace": self.namespace,
                "labels": {MANAGED_BY: MANAGER, ROLE_LABEL: "reconciler-state"},
            },
            "data": {KEY: state.encode()},
        }
        if conditional and not state.version:
            result = self.kube.request("POST", CONFIGMAP.collection(self.namespace), body=body)
        else:
            if conditional:
                body["metadata"]["resourceVersion"] = state.version
            result = self.kube.request("PATCH", CONFIGMAP.path(self.namespace, NAME), query, body, APPLY_PATCH)
        return TenantRevisions(dict(state.by_tenant), str(result.get("metadata", {}).get("resourceVersion", "")))
