"""Which Kubernetes identity writes a change: mlcp's own, or a tenant's confined deployer.

Objects from platform kinds (those declaring `workload = False`: Tenant, Quota,
AccessPolicy) are written with the controller's own identity, as are deletes of
cluster-scoped objects and of objects no record attributes. Workload objects
(every other kind, unknown ones included: Pipeline, Experiment, ModelPromotion,
...) are written impersonating the deployer of the
tenant the change targets: a ServiceAccount name in the controller namespace
(`rendering.context.deployer_account`), bound to `mlcp-tenant-deployer` only in
that tenant's namespace. So an object a renderer put outside its tenant's
namespace, or a cluster-scoped one, is refused by the API server itself.

Which namespace is a tenant's, and who its people are, decides which account
writes: that choice is a credential, so it never comes from the revision under
review. It comes from the trusted base's Tenant specs, and from a Tenant change
of the plan that the base's policy allowed (an admin-approved new tenant or
namespace move: `governance.allowed_tenants`), and from nothing else. A revision
that moves a tenant's namespace without that change being allowed is written as
the deployer of the base's namespace, which the API server refuses anywhere else;
a tenant that neither the base nor an allowed change names has no deployer at
all, and its workloads are refused before anything is sent (`Unconfined`).
A create or update that is neither a platform kind's object nor a namespaced
object of a workload kind (no spec at all, or a workload kind's cluster-scoped
object) is refused too: nothing the planner makes is one (every rendered object
names its spec; the catalog refuses a workload kind a cluster-scoped resource),
and writing it with mlcp's own identity would fail open. Deletes without a spec
(what no record attributes) stay mlcp's own: a delete writes nothing.

Who may change which tenant is the authorizer's decision, made before apply:
an allowed change by someone of another tenant (a platform admin who also owns
a tenant, an SRE rule over every tenant) is written as the deployer of the
tenant it changes. A denied change never reaches apply; if one did (enforcement
bypassed), it is written as an author's own tenant (by the trusted people, so a
revision cannot make its author a member of the tenant it targets), and the API
server refuses it in another's namespace. Mlcp impersonates only accounts of its
own namespace, where no tenant member can run, mint a token for or impersonate
anything.

Platform objects have no deployer beneath them: mlcp's own identity may write in
every namespace labelled as mlcp's (the `mlcp-reconciler-scope` admission policy),
and every tenant's namespace is one. So where they land is confined here, from the
same trusted namespaces (`placed`): a create or update of a platform kind's object
of a tenant must be in the namespace the base and the allowed Tenant changes give
that tenant (the tenant an unallowed change falls back to, as above), and the
tenant's Namespace must be that namespace by name; otherwise it fails before
anything is sent (`Misplaced`). Without it, a revision naming nlp's namespace as
vision's had mlcp bind vision's people, and write vision's quota and NetworkPolicy,
in nlp's namespace once the authorizer's refusal was out of the way. Every object
the platform kinds render today is in its tenant's namespace (rendering.tenant,
rendering.quota): the deployer's RoleBinding included, which only names an account
of the controller namespace (`with_deployer_home`; no account is created there);
a NetworkPolicy's `allowFromNamespaces` names other namespaces but is written in
its own; a cross-tenant grant or an SRE rule over every tenant changes who may
author a change, not where its objects land; the AccessPolicy renders no
Kubernetes object. What is not checked: objects of no tenant (only cluster-wide
kinds, which render none here) but bindings, workloads (their deployer confines
them) and deletes (mlcp's inventory attributes them, and a delete writes nothing). A
tenant's cluster-scoped object other than its Namespace has no namespace to be
confined by, and is refused: a platform kind that renders one must be confined
here first.

Where is not all: in its own namespace, a tenant's RoleBinding written as mlcp
could bind anyone to any shipped tenant role (a member making himself owner).
So it binds only the people the same trusted inputs give the tenant, each with
its role there, and the accounts mlcp renders itself (tenant_bindings). A
RoleBinding or ClusterRoleBinding of no tenant has no trusted people to hold it
to: no platform kind renders one, so it is refused whatever it binds, instead of
being written as mlcp unchecked.

A delete (a prune) is written as the deployer of the namespace the object lives
in by mlcp's records (its ref, attributed by the inventory), when the trusted
base or an allowed change gives the tenant that namespace (`_pruned_in`): after
an allowed move, the tenant's workloads left in the base's namespace are deleted
as that namespace's deployer, since the new one's is bound only in the new
namespace. A namespace neither gives the tenant is refused before anything is
sent, so a revision cannot have mlcp delete in another tenant's namespace: the
namespace comes from the inventory's object, the tenant from its record, and the
namespaces it may be deleted in from the base and the allowed changes alone.
`refusal` says in one place what is refused and why: apply fails the change
with it, and the plan shows it as the change's block (reconciler.confinement).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from controlplane.plans import Action, Change
from controlplane.rendering.context import DEPLOYER_HOME, deployer_account
from controlplane.specs import KINDS, Tenant
from reconciler.tenant_bindings import Person, binds, people_of, subjects, unbound

NAMESPACE_KIND = ("v1", "Namespace")


_UNCONFINED_WRITE = (
    "not written: {ref} ({what}) is neither a platform kind's object nor a namespaced object of a workload kind, "
    "so no tenant's deployer confines it and mlcp does not write it with its own, broader identity; every object a "
    "spec renders names its spec, and a workload kind renders only namespaced objects (rendering/catalog.py): "
    "report this as a bug"
)

_UNOWNED_BINDING = (
    "not written: {ref} binds {what}, but it is of no tenant, so no trusted people say whom it may bind, and mlcp's "
    "own identity (which may bind the tenant roles in every tenant's namespace) does not write it; no platform kind "
    "renders a binding of no tenant (each Tenant renders its own, in its namespace, held to its trusted people): "
    "report this as a bug"
)


class Unconfined(Exception):
    """A workload of a tenant that no trusted input gives a namespace: there is no deployer to write it as."""


class Misplaced(Unconfined):
    """A platform object of a tenant outside the namespace the trusted inputs give that tenant, or a RoleBinding of
    it binding someone they do not give it with that role (tenant_bindings), or a binding of no tenant at all."""


@dataclass(frozen=True)
class Allowed:
    """What the allowed Tenant changes of an authorized plan give their tenants (`governance.allowed_tenants`)."""

    namespaces: Mapping[str, str] = field(default_factory=dict)
    """Tenant → the namespace an allowed creation or move gives it."""
    people: Mapping[str, frozenset[Person]] = field(default_factory=dict)
    """Tenant → its users and groups with their roles, after an allowed change of its people (what its
    RoleBindings may grant, and whose own tenant it is)."""


@dataclass(frozen=True)
class Impersonation:
    """Trusted tenant namespaces and memberships, and where the deployers are: who writes a tenant's workloads,
    and where mlcp's own identity may write its platform objects."""

    namespaces: Mapping[str, str]
    """Tenant → its namespace, from the trusted base and the plan's allowed Tenant changes only."""
    home: str = DEPLOYER_HOME
    """The controller namespace: the deployers' accounts are named there."""
    people: Mapping[str, frozenset[Person]] = field(default_factory=dict)
    """Tenant → its users and groups with their roles, from the same trusted inputs: whom its RoleBindings bind."""
    based: Mapping[str, str] = field(default_factory=dict)
    """Tenant → its namespace in the trusted base alone, before any allowed change: where mlcp put the objects an
    allowed move leaves behind, which a prune deletes as that namespace's deployer."""

    @classmethod
    def of(cls, tenants: Mapping[str, Tenant], home: str = DEPLOYER_HOME) -> Impersonation:
        """Who mlcp writes tenant workloads as, from the trusted base's Tenant specs (`TrustedBase.tenants`)."""
        namespaces = {name: tenant.namespace for name, tenant in tenants.items()}
        return cls(
            namespaces=namespaces,
            home=home,
            people={name: _people(tenant) for name, tenant in tenants.items()},
            based=namespaces,
        )

    def allowing(self, allowed: Allowed) -> Impersonation:
        """With the namespaces and people the authorized plan's allowed Tenant changes give their tenants:
        authorized data, like the base's."""
        if not allowed.namespaces and not allowed.people:
            return self
        namespaces = {**self.namespaces, **allowed.namespaces}
        return replace(self, namespaces=namespaces, people={**self.people, **allowed.people})

    def tenants_of(self, identity: str) -> list[str]:
        """The tenants that name `identity` as a user (owner or member), by the trusted people, ignoring case as
        the authorizer does: identities are lower-cased emails, a Tenant lists people as its author wrote them."""
        return list(self._users.get(identity.lower(), ()))

    @cached_property
    def _users(self) -> dict[str, list[str]]:
        """User → the tenants naming it, made once per writer: the plan asks for every change not allowed
        (reconciler.confinement), and a walk of 10,000 tenants' people each time would be quadratic."""
        users: dict[str, list[str]] = {}
        for tenant, people in sorted(self.people.items()):
            for user in sorted({p.name.lower() for p in people if p.kind == "User"}):
                users.setdefault(user, []).append(tenant)
        return users

    def identity_for(self, change: Change) -> str | None:
        """The user to impersonate for `change`, or None for mlcp's own identity; `Unconfined` when the change is a
        workload of a tenant no trusted input gives a namespace."""
        kind = change.spec.kind if change.spec else ""
        declared = KINDS.get(kind)
        if declared is not None and not declared.workload:
            return None  # a platform kind's: confined by `placed`
        if change.action in (Action.create, Action.update) and (not kind or change.ref.namespace is None):
            raise Unconfined(_UNCONFINED_WRITE.format(ref=change.ref, what="no spec" if not kind else f"{kind}'s"))
        if not kind or change.ref.namespace is None:
            return None  # a delete no record attributes (or of a cluster-scoped object): it writes nothing
        tenant, namespace = self._confining(change, f"there is no deployer to write {change.ref} as")
        if change.action is Action.delete:
            namespace = self._pruned_in(change, tenant, namespace)
        return f"system:serviceaccount:{self.home}:{deployer_account(namespace)}"

    def refusal(self, change: Change) -> str | None:
        """Why `change` is not written at all (`identity_for` and `placed` refuse it), or None: what apply refuses
        and the plan shows, in the same words."""
        try:
            self.identity_for(change)
            self.placed(change)
        except Unconfined as exc:
            return str(exc)
        return None

    def placed(self, change: Change) -> None:
        """Nothing when `change` may be written where it lands; `Misplaced` for a create or update of a platform
        kind's object of a tenant outside the namespace the trusted inputs give the tenant (its Namespace: named
        otherwise), `Unconfined` when they give it none. Written with mlcp's own identity, which the API server lets
        into every tenant's namespace, these are confined here alone (module docstring)."""
        declared = KINDS.get(change.spec.kind) if change.spec else None
        if declared is None or declared.workload or change.action not in (Action.create, Action.update):
            return
        ref = change.ref
        if not change.tenant:
            if binds(ref.api_version, ref.kind):
                raise Misplaced(_UNOWNED_BINDING.format(ref=ref, what="; ".join(subjects(change.desired)[:5])))
            return
        tenant, namespace = self._confining(change, f"there is no namespace mlcp may write {ref} in")
        if ref.namespace is not None:
            if ref.namespace == namespace:
                self._bound(change, tenant, namespace)
                return
            where = f"namespace {ref.namespace!r}"
        else:
            if (ref.api_version, ref.kind) == NAMESPACE_KIND and ref.name == namespace:
                return
            where = "no namespace (cluster-scoped)"
        whose = f"tenant {tenant!r}" + ("" if tenant == change.tenant else " (its author's: the change is not allowed)")
        raise Misplaced(
            f"not written: {ref} of tenant {change.tenant!r} is in {where}, but the trusted base and the plan's "
            f"allowed Tenant changes give {whose} the namespace {namespace!r}, and mlcp writes a tenant's platform "
            "objects (and its Namespace) only there; a tenant moves to another namespace only by a Tenant change "
            "its policy allows (a platform admin's)"
        )

    def _bound(self, change: Change, tenant: str | None, namespace: str) -> None:
        """`Misplaced` for a tenant's RoleBinding binding anyone the trusted inputs do not give `tenant` with that
        role (tenant_bindings): mlcp's own identity may bind the tenant roles to anyone in the namespace."""
        if not binds(change.ref.api_version, change.ref.kind):
            return
        wrong = unbound(change.desired, self.people.get(tenant or "", frozenset()), namespace, self.home)
        if not wrong:
            return
        whose = f"tenant {tenant!r}" + ("" if tenant == change.tenant else " (its author's: the change is not allowed)")
        raise Misplaced(
            f"not written: {change.ref} of tenant {change.tenant!r} binds {'; '.join(wrong[:5])}, which the trusted "
            f"base and the plan's allowed Tenant changes do not give {whose}; a tenant's people and their roles "
            "change only by a Tenant change its policy allows (an owner's or a platform admin's)"
        )

    def _pruned_in(self, change: Change, tenant: str | None, namespace: str) -> str:
        """The namespace whose deployer deletes a workload: the one it lives in by mlcp's records (its ref, which
        the inventory attributes to the tenant), when the trusted base or an allowed change gives the tenant that
        namespace; `Unconfined` otherwise. After an allowed move the tenant's leftovers are in the base's namespace,
        where the new one's deployer is bound to nothing; a namespace neither gives it is another tenant's, or no
        one's, and mlcp never deletes there as anyone."""
        lives = change.ref.namespace or ""
        based = self.based.get(tenant or "")
        if lives in (namespace, based):
            return lives
        whose = f"tenant {tenant!r}" + ("" if tenant == change.tenant else " (its author's: the change is not allowed)")
        theirs = repr(namespace) if based in (None, namespace) else f"{based!r} (the base) and {namespace!r}"
        raise Unconfined(
            f"not deleted: {change.ref} of tenant {change.tenant!r} is in namespace {lives!r}, but the trusted base "
            f"and the plan's allowed Tenant changes give {whose} only {theirs}, and mlcp deletes a tenant's workloads "
            "only as the deployer of a namespace they give it; if the object is no longer wanted, a cluster admin "
            "deletes it by hand (kubectl delete)"
        )

    def _confining(self, change: Change, without: str) -> tuple[str | None, str]:
        """The tenant whose trusted namespace confines `change` (its own, or for a change not allowed an author's
        own tenant), and that namespace; `Unconfined`, saying `without`, when no trusted input gives it one."""
        tenant = change.tenant
        if change.decision is None or not change.decision.allowed:
            tenant = self._authors_tenant(change.decision.actors if change.decision else (), tenant)
        namespace = self.namespaces.get(tenant or "")
        if namespace is None:
            raise Unconfined(
                f"not written: tenant {tenant!r} has no namespace in the trusted base and no allowed Tenant change "
                f"gives it one, so {without}; a platform admin must approve the tenant (its tenants/<t>/tenant.yaml) "
                "first"
            )
        return tenant, namespace

    def _authors_tenant(self, actors: tuple[str, ...], target: str | None) -> str | None:
        """For a change not allowed that reached apply anyway (enforcement bypassed, a bug): the own tenant of an
        author who is not in `target`, whose deployer the API server refuses in `target`'s namespace."""
        for actor in actors:
            own = self.tenants_of(actor)
            if own and target not in own:
                return own[0]
        return target


_PEOPLE: dict[int, tuple[Tenant, frozenset[Person]]] = {}
"""Each Tenant spec's people, by the spec's identity: a base derived from the last one keeps its unchanged
tenants' specs (trust.load with a previous base), so 10,000 tenants are not walked again per base."""
_PEOPLE_KEPT = 50_000


def _people(tenant: Tenant) -> frozenset[Person]:
    """The tenant's people with their roles."""
    known = _PEOPLE.get(id(tenant))
    if known is not None and known[0] is tenant:  # the spec is kept with it, so its id is never reused
        return known[1]
    found = people_of(tenant)
    if len(_PEOPLE) >= _PEOPLE_KEPT:
        _PEOPLE.clear()
    _PEOPLE[id(tenant)] = (tenant, found)
    return found
