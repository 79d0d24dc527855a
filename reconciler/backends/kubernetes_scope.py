"""Which live objects a sharded replica keeps: those in the namespaces of the tenants it holds, by mlcp's records.

With several replicas (`mlcp reconcile --shards N`), each converges only the
tenants of the shards it holds, so its watch cache need not hold every other
tenant's objects (at 10,000 tenants the whole cluster's were ~900 MB in every
replica). An object is routed to a tenant by its namespace (for a Namespace, its
own name), and the namespace to its tenant(s) by mlcp's own records only:

- the inventory's record of each Namespace (which tenant mlcp made it for),
- the desired state's Tenant specs (which namespace each declares; a new tenant's
  namespace is not in the inventory yet).

Never by labels or annotations on live objects: a tenant who edits them in its
own namespace must not move an object into (or out of) another replica's cache.
A tenant may only write its own namespace, so whatever it creates or labels there
is routed to its own shard (docs/security.md).

A namespace is dropped only when every tenant that claims it belongs to a shard
this replica does not hold. Objects of no namespace other than Namespaces (the
deployer ClusterRole), and those in namespaces no record or spec names (shared
ones), are kept by every replica: few, and some lane may need them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from controlplane.inventory import Inventory
from controlplane.loading.repo import ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import ObjectRef
from controlplane.specs import Tenant

NAMESPACE_KIND = ("v1", "Namespace")


@dataclass(frozen=True)
class Scope:
    """The namespaces whose objects are not kept (those of other replicas' tenants); everything else is."""

    dropped: frozenset[str] = frozenset()

    def keeps(self, ref: ObjectRef) -> bool:
        return namespace_of(ref.api_version, ref.kind, ref.namespace, ref.name) not in self.dropped

    def keeps_item(self, api_version: str, kind: str, item: Mapping[str, Any]) -> bool:
        """`keeps` for a listed or watched item, before it is reduced (a dropped one costs no more than this)."""
        meta = item.get("metadata") or {}
        return namespace_of(api_version, kind, meta.get("namespace"), str(meta.get("name", ""))) not in self.dropped

    def widened(self, before: Scope) -> frozenset[str]:
        """The namespaces kept now that `before` dropped: their objects must be listed before they are read."""
        return before.dropped - self.dropped

    def narrowed(self, before: Scope) -> frozenset[str]:
        """The namespaces dropped now that `before` kept: their objects are let go."""
        return self.dropped - before.dropped


EVERYTHING = Scope()


def namespace_of(api_version: str, kind: str, namespace: str | None, name: str) -> str | None:
    """The namespace an object is routed by: its own, or its name for a Namespace; None for other cluster objects."""
    if namespace:
        return namespace
    return name if (api_version, kind) == NAMESPACE_KIND else None


def recorded_namespaces(inventory: Inventory) -> dict[str, str]:
    """Namespace -> tenant, as mlcp's inventory recorded when it made each namespace (unreadable records: none)."""
    return {
        ref.name: record.tenant
        for ref, record in inventory.records.items()
        if record.tenant and (ref.api_version, ref.kind) == NAMESPACE_KIND and ref in inventory.refs
    }


def declared_namespaces(repo: ConfigRepo) -> dict[str, str]:
    """Tenant -> namespace, as the revision's Tenant specs declare them: where a new tenant's objects will be. What
    a replica keeps, never whose deployer writes (reconciler.impersonation takes that from the trusted base)."""
    return dict(_declared(s) for s in repo.of_kind("Tenant") if s.tenant)


_DECLARED: dict[int, tuple[LoadedSpec, tuple[str, str]]] = {}
"""Each loaded Tenant spec's namespace, by the spec's identity: the loop confines the backend to each new revision,
whose unchanged tenants keep their loaded specs (reconciler.incremental)."""
_DECLARED_KEPT = 50_000


def _declared(loaded: LoadedSpec) -> tuple[str, str]:
    known = _DECLARED.get(id(loaded))
    if known is not None and known[0] is loaded:  # the spec is kept with it, so its id is never reused
        return known[1]
    found = (str(loaded.tenant), cast(Tenant, loaded.spec).namespace)
    if len(_DECLARED) >= _DECLARED_KEPT:
        _DECLARED.clear()
    _DECLARED[id(loaded)] = (loaded, found)
    return found


def scope_for(recorded: Mapping[str, str], declared: Mapping[str, str], holds: Callable[[str], bool]) -> Scope:
    """The scope of a replica that holds the tenants `holds` accepts.

    `recorded` is namespace -> tenant from the inventory, `declared` tenant -> namespace from the desired state.
    A namespace is dropped when it has claimants and none of them is held."""
    claimants: dict[str, set[str]] = {}
    for namespace, tenant in recorded.items():
        claimants.setdefault(namespace, set()).add(tenant)
    for tenant, namespace in declared.items():
        claimants.setdefault(namespace, set()).add(tenant)
    return Scope(frozenset(ns for ns, tenants in claimants.items() if not _any(holds, tenants)))


def _any(holds: Callable[[str], bool], tenants: Iterable[str]) -> bool:
    return any(holds(tenant) for tenant in tenants)
