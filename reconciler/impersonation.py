"""Which Kubernetes identity writes a change: mlcp's own, or a tenant's confined deployer.

Objects from platform kinds (those declaring `workload = False`: Tenant, Quota,
AccessPolicy) and cluster-scoped objects are written with the controller's own
identity. Workload objects (every other kind, unknown ones included: Pipeline,
Experiment, ModelPromotion, ...) are written impersonating the deployer of the
tenant the change targets: a ServiceAccount name in the controller namespace
(`rendering.context.deployer_account`), bound to `mlcp-tenant-deployer` only in
that tenant's namespace. So an object a renderer put outside its tenant's
namespace, or a cluster-scoped one, is refused by the API server itself.

Who may change which tenant is the authorizer's decision, made before apply:
an allowed change by someone of another tenant (a platform admin who also owns
a tenant, an SRE rule over every tenant) is written as the deployer of the
tenant it changes; before, it was written as the deployer of the author's own
tenant, which the API server refused, so every allowed cross-tenant grant
failed as soon as its holder belonged to a tenant. A denied change never
reaches apply; if one did (enforcement bypassed), it is written as an author's
own tenant, and the API server refuses it in another's namespace. Mlcp
impersonates only accounts of its own namespace, where no tenant member can
run, mint a token for or impersonate anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from controlplane.loading.repo import ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import Change
from controlplane.rendering.context import DEPLOYER_HOME, deployer_account
from controlplane.specs import KINDS, Tenant


@dataclass(frozen=True)
class Impersonation:
    """Tenant namespaces and memberships, from the desired revision, and where the deployers are."""

    namespaces: Mapping[str, str]
    members: Mapping[str, frozenset[str]]
    """Tenant → identities (owners and members) of that tenant."""
    home: str = DEPLOYER_HOME
    """The controller namespace: the deployers' accounts are named there."""

    @classmethod
    def of(cls, repo: ConfigRepo, home: str = DEPLOYER_HOME) -> Impersonation:
        """Who mlcp writes tenant workloads as, from the tenants of this revision."""
        people = dict(_people(s) for s in repo.of_kind("Tenant") if s.tenant)
        return cls(
            namespaces={name: namespace for name, (namespace, _) in people.items()},
            members={name: members for name, (_, members) in people.items()},
            home=home,
        )

    def tenants_of(self, identity: str) -> list[str]:
        return sorted(t for t, people in self.members.items() if identity in people)

    def identity_for(self, change: Change) -> str | None:
        """The user to impersonate for `change`, or None for mlcp's own identity."""
        kind = change.spec.kind if change.spec else ""
        declared = KINDS.get(kind)
        if (declared is not None and not declared.workload) or not kind or change.ref.namespace is None:
            return None
        tenant = change.tenant
        if change.decision is not None and not change.decision.allowed:
            tenant = self._authors_tenant(change.decision.actors, tenant)
        namespace = self.namespaces.get(tenant or "") or change.ref.namespace
        return f"system:serviceaccount:{self.home}:{deployer_account(namespace)}"

    def _authors_tenant(self, actors: tuple[str, ...], target: str | None) -> str | None:
        """For a denied change that reached apply anyway (enforcement bypassed, a bug): the own tenant of an author
        who is not in `target`, whose deployer the API server refuses in `target`'s namespace."""
        for actor in actors:
            own = self.tenants_of(actor)
            if own and target not in own:
                return own[0]
        return target


_PEOPLE: dict[int, tuple[LoadedSpec, tuple[str, tuple[str, frozenset[str]]]]] = {}
"""Each loaded Tenant spec's namespace and people, by the spec's identity: the loop confines the backend to each
new revision, whose unchanged tenants keep their loaded specs (reconciler.incremental)."""
_PEOPLE_KEPT = 50_000


def _people(loaded: LoadedSpec) -> tuple[str, tuple[str, frozenset[str]]]:
    known = _PEOPLE.get(id(loaded))
    if known is not None and known[0] is loaded:  # the spec is kept with it, so its id is never reused
        return known[1]
    tenant = cast(Tenant, loaded.spec)
    found = (str(loaded.tenant), (tenant.namespace, frozenset(tenant.identities())))
    if len(_PEOPLE) >= _PEOPLE_KEPT:
        _PEOPLE.clear()
    _PEOPLE[id(loaded)] = (loaded, found)
    return found
