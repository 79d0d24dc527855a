"""Kubernetes backend: one paginated LIST per kind to read, server-side apply to write.

Live state is read with the managed-by label selector, one list call per
resource kind (paginated), never one GET per object, and decoded straight from
JSON (the client's model deserialization costs more than the network here), or
from the watch cache (kubernetes_watch) when it has them. Deletes are attributed
from mlcp's own record and namespace claims judged before anything is written
(kubernetes_namespaces). How one object is written, drift taken back and a delete
kept to the planned version, is kubernetes_writes'; how the inventory (ConfigMaps
in the controller namespace, like Flux's: kubernetes_pieces) records an apply,
kubernetes_recording's. The transport (connection, requests, server-side apply)
is the shared client in kubernetes_client; this module is the `Backend` that
puts them together for one cluster.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, Protocol

from controlplane.inventory import Inventory
from controlplane.labels import SELECTOR
from controlplane.loading.repo import ConfigRepo
from controlplane.planning import attributed
from controlplane.plans import Action, Change, LiveObject, ObjectRef
from controlplane.rendering import catalog
from controlplane.specs.repo_config import RepoConfig
from reconciler.backends import kubernetes_recording as recording
from reconciler.backends import kubernetes_writes as writes
from reconciler.backends.base import (
    ApplyOptions,
    Backend,
    BackendError,
    Expectation,
    LiveState,
    Outcome,
    Status,
    Watching,
)
from reconciler.backends.deadline import Remaining
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backends.kubernetes_namespaces import NamespaceClaims, appeared
from reconciler.backends.kubernetes_objects import CONFIGMAP as CONFIGMAP  # noqa: PLC0414 - re-exported
from reconciler.backends.kubernetes_objects import NAMESPACE as NAMESPACE  # noqa: PLC0414 - re-exported
from reconciler.backends.kubernetes_objects import SYSTEM, ResourceType, live_object
from reconciler.backends.kubernetes_pieces import PieceStore
from reconciler.backends.kubernetes_scope import EVERYTHING, Scope, declared_namespaces, recorded_namespaces, scope_for
from reconciler.backends.kubernetes_watch import WatchCache
from reconciler.backends.registry import register
from reconciler.impersonation import Allowed, Impersonation
from reconciler.targets import Targets
from reconciler.trust import TrustedBase

PAGE_SIZE = 10000
READ_CONCURRENCY = 4
FEW_NAMESPACES = 16
"""Up to this many namespace creates are checked with a GET each; more with one LIST of all namespaces."""


def resources() -> tuple[ResourceType, ...]:
    """What mlcp lists and writes: every resource the spec kinds declare (controlplane.rendering.catalog)."""
    return tuple(ResourceType(r.api_version, r.kind, r.plural, r.namespaced) for r in catalog.resources())


RESOURCES = resources()
"""The declared resources when this module was imported; `read` and `apply` ask `resources()` each time."""
BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


class LiveCache(Protocol):
    """Live objects kept current elsewhere (kubernetes_watch): `read` uses them instead of listing."""

    def snapshot(self) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...]] | None: ...

    def fresh(self) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...], int] | None: ...

    def written(self, ref: ObjectRef, item: dict[str, Any]) -> None: ...

    def deleted(self, ref: ObjectRef, version: str) -> None: ...

    def take_changed(self) -> frozenset[ObjectRef] | None: ...

    def rescope(self, scope: Scope) -> bool: ...

    def settled(self) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...]] | None: ...


@register
class KubernetesBackend(Backend):
    """Reads and writes mlcp's objects in one cluster."""

    system = SYSTEM
    order = 20

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.controller_namespace = client.controller_namespace
        self._inventory: Inventory | None = None
        self.impersonation = Impersonation({}, self.controller_namespace)
        """Whose confined deployer writes each tenant's workloads, and where its platform objects may land
        (reconciler.impersonation): the trusted base's tenants (`judge_by`) and what the authorized plan allows
        (`entrust`); before a base, none (refused)."""
        self._trusted: tuple[TrustedBase, Impersonation] | None = None
        """The last base's tenants' writers, made once per base (a loop pass at the same base reuses them)."""
        self._declared: Mapping[str, str] = {}
        self._confined: ConfigRepo | None = None
        """The revision's tenants → the namespaces they declare: only what a sharded replica's live state keeps."""
        self.cache: LiveCache | None = None
        """When set and synced, `read` sends no LIST; the inventory is read once, then kept from our own writes."""
        self._absent: set[str] = set()
        """Namespaces the last review found absent, so applying its creates needs no second look."""
        self._base: TrustedBase | None = None
        """The trusted base of the plan being reviewed: which tenant keeps a namespace no record gives anyone."""
        self._fresh = False
        """List on the next `read` even with a synced cache (after `forget`)."""
        self._types: dict[tuple[str, str], ResourceType] = {}
        self._pieces = PieceStore(self.controller_namespace, client)
        """The inventory's index and pieces as last read or written: a write encodes only the pieces that changed."""
        self._holds: Callable[[str], bool] | None = None
        """The tenants a sharded replica keeps live state of (None: every tenant)."""
        self._scope: tuple[weakref.ref[Inventory], object, object, Scope] | None = None
        """The scope last made, and the inventory (not kept alive for this: a weak reference), tenants' namespaces
        and holds it was made from."""

    def bounded(self, remaining: Remaining) -> AbstractContextManager[None]:
        """This thread's requests inside the block end within the fence's time (see backends.deadline)."""
        return self.client.bounded(remaining)

    @classmethod
    def connect(cls, targets: Targets) -> KubernetesBackend:
        """The operator's cluster: their kubeconfig (flag or $KUBECONFIG), else the pod's ServiceAccount."""
        return cls(KubeClient.connect(targets))

    @classmethod
    def expectations(cls, config: RepoConfig, targets: Targets) -> list[Expectation]:
        stated = config.cluster
        return [
            ("cluster.kubeconfig", stated.kubeconfig, targets.resolved_kubeconfig(), "--kubeconfig / $KUBECONFIG"),
            ("cluster.context", stated.context, targets.context, "--context"),
            (
                "cluster.controllerNamespace",
                stated.controller_namespace,
                targets.controller_namespace,
                "--controller-namespace / $MLCP_CONTROLLER_NAMESPACE",
            ),
        ]

    @property
    def target(self) -> str:
        return self.client.target

    @property
    def keeps_applied_revision(self) -> bool:
        return True  # the inventory's annotation mlcp.dev/applied-revision

    @property
    def requests(self) -> int:
        """Requests sent so far through this backend's client."""
        return self.client.requests

    def confine(self, repo: ConfigRepo) -> None:
        """Keep live state of the namespaces this revision's tenants declare (a sharded replica's scope)."""
        if self._confined is not repo:  # a pass at the same revision confines to the same repo again
            self._declared, self._confined = declared_namespaces(repo), repo

    def judge_by(self, base: TrustedBase) -> None:
        """Judge namespace claims by `base`, and write each tenant's workloads as the deployer of the namespace
        the base gives it until `entrust` says what the authorized plan allows."""
        self._base = base
        if self._trusted is None or self._trusted[0] is not base:
            self._trusted = (base, Impersonation.of(base.tenants, self.controller_namespace))
        self.impersonation = self._trusted[1]

    def entrust(self, allowed: Allowed) -> None:
        """Also write as the deployers of what the authorized plan's allowed Tenant changes give (a new tenant's
        namespace, a moved one): a move it did not allow leaves the tenant's workloads to the base's namespace."""
        trusted = self._trusted[1] if self._trusted is not None else Impersonation({}, self.controller_namespace)
        self.impersonation = trusted.allowing(allowed)

    def refusal(self, change: Change) -> str | None:
        """Why `change` is not written as anyone (`Impersonation.refusal`), or None."""
        return self.impersonation.refusal(change)

    def forget(self) -> None:
        """Read the inventory again, and list instead of reading the watch cache, on the next `read`."""
        self._inventory = None
        self._fresh = True

    def forget_records(self) -> None:
        """Read the inventory again on the next `read`; the watch cache stays (it saw every change)."""
        self._inventory = None

    def changed(self) -> frozenset[ObjectRef] | None:
        """What the watch cache saw change since the last call (None without one, or after a relist)."""
        return self.cache.take_changed() if self.cache is not None else None

    def scope(self, holds: Callable[[str], bool] | None) -> None:
        """Keep only the held tenants' objects (kubernetes_scope); before `watch`, so a scoped cache never lists
        the whole cluster."""
        self._holds = holds

    def watch(self) -> Watching:
        """Keep live state with a watch cache: a no-op read then sends no request, and `changed` says what
        changed."""
        cache = WatchCache(self.client, resources(), scoped=self._holds is not None).start()
        self.cache = cache
        return cache

    # -- reading ---------------------------------------------------------------------------------------------

    def _list_kind(self, rtype: ResourceType, scope: Scope = EVERYTHING) -> list[LiveObject] | None:
        """Every labelled object of one kind that `scope` keeps, each reduced as its page arrives (live_object);
        None when the API is not served (a CRD not installed)."""
        keeps, version, kind = scope.keeps_item, rtype.api_version, rtype.kind
        try:
            return [
                live_object(rtype, item)
                for page in self.client.list_pages(rtype, SELECTOR, PAGE_SIZE)
                for item in page
                if keeps(version, kind, item)
            ]
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise BackendError(f"listing {rtype.plural} on {self.target} failed: {exc}") from None

    def read(self) -> LiveState:
        """From the watch cache when it has the objects (after `forget`: its fresh lists, so the live state is
        read and held once); else one LIST per kind, a few in flight at once, so the server's work overlaps
        with decoding here."""
        self._absent = set()
        scope = EVERYTHING
        if self._holds is not None:  # a sharded replica: which objects it keeps follows from the inventory
            if self._inventory is None:
                self._inventory = self.read_inventory()
            scope = self._scoped(self._inventory, self._holds)
        cached = self._cached(fresh=self._fresh)
        self._fresh = False
        if cached is not None:
            if self._inventory is None:
                self._inventory = self.read_inventory()
            return LiveState(cached[0], self._inventory, cached[1], self._holds)
        objects: dict[ObjectRef, LiveObject] = {}
        missing: list[str] = []
        kinds = resources()
        with ThreadPoolExecutor(max_workers=READ_CONCURRENCY) as pool:
            pages = list(pool.map(lambda rtype: self._list_kind(rtype, scope), kinds))
        for rtype, listed in zip(kinds, pages, strict=True):
            if listed is None:
                missing.append(f"{rtype.kind}.{rtype.api_version}")
                continue
            objects.update((obj.ref, obj) for obj in listed)
        self._inventory = self.read_inventory()
        return LiveState(objects, self._inventory, tuple(missing), self._holds)

    def _cached(self, *, fresh: bool) -> tuple[dict[ObjectRef, LiveObject], tuple[str, ...]] | None:
        """The cache's objects (None without a cache, or when it cannot answer: then list). A fresh read's
        lists are counted as this client's requests: they are the pass's read, sent by the cache's threads."""
        if self.cache is None:
            return None
        if not fresh:  # scoped: a widened scope's relist is waited for, never read without the new objects
            return self.cache.settled() if self._holds is not None else self.cache.snapshot()
        listed = self.cache.fresh()
        if listed is None:
            return None
        self.client.counted(listed[2])
        return listed[0], listed[1]

    def _scoped(self, inventory: Inventory, holds: Callable[[str], bool]) -> Scope:
        """The scope of the held tenants, given to the cache (made again only when its inputs changed)."""
        declared = self._declared
        made = self._scope
        if made is None or made[0]() is not inventory or made[1] is not declared or made[2] is not holds:
            made = self._scope = (
                weakref.ref(inventory),
                declared,
                holds,
                scope_for(recorded_namespaces(inventory), declared, holds),
            )
        scope = made[3]
        if self.cache is not None:
            self.cache.rescope(scope)
        return scope

    def current_version(self, ref: ObjectRef) -> str | None:
        obj = self.client.get_or_none(self._type(ref).path(ref.namespace, ref.name))
        return None if obj is None else str(obj.get("metadata", {}).get("resourceVersion", ""))

    def _type(self, ref: ObjectRef) -> ResourceType:
        """The declared resource of `ref`'s kind (looked up once per kind and backend: apply asks per write)."""
        key = (ref.api_version, ref.kind)
        known = self._types.get(key)
        if known is not None:
            return known
        declared = catalog.find(ref.api_version, ref.kind)
        if declared is None:
            raise BackendError(f"mlcp does not manage {ref.kind} ({ref.api_version})")
        known = ResourceType(declared.api_version, declared.kind, declared.plural, declared.namespaced)
        self._types[key] = known
        return known

    # -- review ----------------------------------------------------------------------------------------------

    def review(self, changes: Sequence[Change]) -> list[Change]:
        """Deletes attributed from mlcp's own record (never labels); tenants' namespace claims judged."""
        inventory = self._inventory or Inventory()
        attested = [attributed(c, inventory.owner_of(c.ref)) if c.action is Action.delete else c for c in changes]
        return NamespaceClaims(inventory, self.controller_namespace, self._exists, self._base).review(attested)

    def _exists(self, names: list[str]) -> dict[str, bool | str]:
        """Which namespaces exist, labelled or not: a GET each for a few, one LIST of all for many."""
        found: dict[str, bool | str]
        try:
            if len(names) <= FEW_NAMESPACES:
                found = {n: self.client.get_or_none(NAMESPACE.path(None, n)) is not None for n in names}
            else:
                listed = self.client.list_all(NAMESPACE, "", PAGE_SIZE)
                present = {str((item.get("metadata") or {}).get("name")) for item in listed}
                found = {n: n in present for n in names}
        except BackendError as exc:
            return dict.fromkeys(names, str(exc))
        self._absent |= {n for n, there in found.items() if there is False}
        return found

    # -- writing ---------------------------------------------------------------------------------------------

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        """Write `change` (kubernetes_writes), as the tenant's confined deployer for a workload, a platform object
        only in its tenant's trusted namespace (`Impersonation.placed`); a namespace the review found absent that
        someone made since is not taken over."""
        refused = self.refusal(change)
        if refused is not None:
            return Outcome(change, Status.failed, refused)
        impersonate = self.impersonation.identity_for(change)
        rtype = self._type(change.ref)
        path = rtype.path(change.ref.namespace, change.ref.name)
        taken = appeared(change, self._absent, self._exists)
        if taken:
            return Outcome(change, Status.failed, taken)
        return writes.ObjectWrite(self.client, change, path, options, impersonate, self.cache).outcome()

    # -- inventory -------------------------------------------------------------------------------------------

    def read_inventory(self) -> Inventory:
        return self._pieces.read()

    @property
    def notes(self) -> tuple[str, ...]:
        """What the last inventory read found wrong with its pieces (missing, unreadable)."""
        return self._pieces.problems

    @property
    def record_problems(self) -> tuple[str, ...]:
        return self._pieces.problems

    @property
    def partial_inventory(self) -> bool:
        return True

    def record_inventory(self, refs: frozenset[ObjectRef], options: ApplyOptions) -> None:
        """Write the pieces of the inventory that changed (and its index) if any did; no write otherwise.

        Each object's record comes from `options.claims` (see `Inventory.updated`), never from live state.
        """
        prior = self._inventory if self._inventory is not None else self.read_inventory()
        try:
            written = recording.record(self._pieces, prior, refs, options)
        except BackendError:
            self._inventory = None  # what is stored is not known: read it again
            raise
        if written is not None:
            self._inventory = written
