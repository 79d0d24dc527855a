"""The Kubernetes objects each spec kind renders to, as its renderer declares them.

A kind's renderer states what it produces (`renders(kind, *resources)`): group,
version, resource, scope and apply rank. Everything that used to be a central
list is derived from these declarations: the apply order, the kinds the
Kubernetes backend lists and may write, the verbs of the tenant deployer's
ClusterRole (a workload kind's objects) and of mlcp's own deploy ClusterRole.
So a new kind is declared where it is written, and a kind that renders an
object it did not declare fails at render time, not as a 403 at apply.

A kind also says which of its objects name the tenant's people (`NAMES_PEOPLE`): those objects follow the
tenant's membership, so the authorizer judges their changes with it (reconciler/tenantbound.py).

Two declarations of one object kind must agree on what it is (as lightkube's
registry refuses conflicts), and a tenant workload kind may only render
namespaced objects: its objects are written as a deployer confined to one
namespace. Ranks are each kind's own: a notebook's Role must come after the
tenant's RoleBindings that let its writer, the tenant's deployer, write it.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from controlplane.plans import EditableFields
from controlplane.specs import KINDS

RANK_OF_UNDECLARED = 100


@dataclass(frozen=True, order=True)
class Resource:
    """One Kubernetes resource type mlcp writes."""

    rank: int
    """Apply order, lowest first; the reverse is the order for deleting."""
    group: str
    """API group; "" for the core group."""
    version: str
    kind: str
    plural: str
    """The resource name in URLs and RBAC rules, e.g. `workflowtemplates`."""
    namespaced: bool
    grants_access: bool = False
    """Its objects give people or accounts access (RoleBindings): one that git no longer renders is deleted even
    with prune off, since revoking access must not wait for an operator's opt-in (`ACCESS`)."""
    bounds_tenant: bool = False
    """Its objects bound what a tenant may do (RBAC, NetworkPolicy, quotas, accounts, the namespace): no controller
    has a claim on their fields, and a field manager's name is whatever its writer put in the request, so the
    Kubernetes backend takes back a conflict on one under any manager's name, as drift."""
    editable: EditableFields | None = None
    """The only fields its controller lets an update change (None: any): the plan blocks an update of another
    one, saying why, instead of writing it and having the controller's webhook refuse it (`editable`)."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True, order=True)
class Grant:
    """A permission a kind's rendered Roles give people (e.g. `get` on `services/proxy`).

    RBAC lets nobody grant what they do not hold, so whoever writes such a Role must hold it: the tenant's
    deployer for a workload kind (its ClusterRole includes it), and mlcp, which grants the deployer's role.
    """

    group: str
    resource: str
    verbs: tuple[str, ...]


PRODUCES: dict[str, tuple[Resource, ...]] = {}
"""Spec kind → the resources its renderers declared."""
GRANTS: dict[str, tuple[Grant, ...]] = {}
"""Spec kind → what the Roles it renders grant."""
NAMES_PEOPLE: dict[str, frozenset[str]] = {}
"""Spec kind → the kinds of its objects (of any system) whose content names the tenant's owners or members, as
the revision's Tenant has them: a Notebook's RoleBinding, an MLflow experiment's owners tag."""
ACCESS_ELSEWHERE: set[tuple[str, str]] = set()
"""(apiVersion, kind) of objects of other systems than Kubernetes that give people access (MLflow permissions),
declared by their renderers with `declare_access`."""


@dataclass
class _Derived:
    """What `resources` and `RANKS` computed from `PRODUCES`, dropped on each declaration (planning asks per object)."""

    resources: tuple[Resource, ...] | None = None
    ranks: dict[str, int] | None = None


_derived = _Derived()


class CatalogError(TypeError):
    """A declaration that contradicts another, or a kind that may not write what it declares."""


def declare(
    spec_kind: str, resources: tuple[Resource, ...], grants: tuple[Grant, ...] = (), people: tuple[str, ...] = ()
) -> None:
    """Record that renderers of `spec_kind` produce `resources` (Roles granting `grants`; objects of the kinds
    `people` naming the tenant's people); refuses contradictions."""
    cls = KINDS.get(spec_kind)
    if cls is None:
        raise CatalogError(f"renderer for unknown spec kind {spec_kind!r}: register the spec class first")
    for resource in resources:
        if cls.workload and not resource.namespaced:
            raise CatalogError(
                f"{spec_kind} is a tenant workload kind and cannot render cluster-scoped {resource.kind}: "
                "its objects are written as a deployer confined to the tenant's namespace"
            )
        known = find(resource.api_version, resource.kind)
        if known is not None and replace(known, rank=resource.rank) != resource:
            raise CatalogError(f"{resource.kind} ({resource.api_version}) declared twice, differently: {known}")
    PRODUCES[spec_kind] = tuple(dict.fromkeys((*PRODUCES.get(spec_kind, ()), *resources)))
    if grants:
        GRANTS[spec_kind] = tuple(dict.fromkeys((*GRANTS.get(spec_kind, ()), *grants)))
    if people:
        NAMES_PEOPLE[spec_kind] = NAMES_PEOPLE.get(spec_kind, frozenset()) | frozenset(people)
    _derived.resources = _derived.ranks = None


def withdraw(spec_kind: str, resources: tuple[Resource, ...] | None = None) -> None:
    """Forget what `spec_kind` declared (a kind that is unloaded, e.g. one a test declared), or only `resources`
    of it (a tuner that is unloaded)."""
    if resources is None:
        PRODUCES.pop(spec_kind, None)
        GRANTS.pop(spec_kind, None)
        NAMES_PEOPLE.pop(spec_kind, None)
    else:
        PRODUCES[spec_kind] = tuple(r for r in PRODUCES.get(spec_kind, ()) if r not in resources)
    _derived.resources = _derived.ranks = None


def resources() -> tuple[Resource, ...]:
    """Every declared resource once, in apply order."""
    if _derived.resources is None:
        _derived.resources = _first_of_each(r for declared in PRODUCES.values() for r in declared)
    return _derived.resources


def _first_of_each(declared: Iterable[Resource]) -> tuple[Resource, ...]:
    """One entry per object type, at its lowest declared rank (created first, deleted last), in apply order."""
    first: dict[tuple[str, str], Resource] = {}
    for r in sorted(declared):
        first.setdefault((r.api_version, r.kind), r)
    return tuple(first.values())


def find(api_version: str, kind: str) -> Resource | None:
    return next((r for d in PRODUCES.values() for r in d if r.api_version == api_version and r.kind == kind), None)


def declared_by(spec_kind: str, api_version: str, kind: str) -> Resource | None:
    """The resource `spec_kind` declared for objects of `kind`, or None if it declared none."""
    return next((r for r in PRODUCES.get(spec_kind, ()) if r.api_version == api_version and r.kind == kind), None)


def declared_rank(spec_kind: str, api_version: str, kind: str) -> int | None:
    """The rank `spec_kind` declared for objects of `kind` (`PlanOptions.declared_rank`), or None."""
    found = declared_by(spec_kind, api_version, kind)
    return found.rank if found is not None else None


def names_people(spec_kind: str, object_kind: str) -> bool:
    """Whether objects of `object_kind` that `spec_kind` renders name the tenant's people (`NAMES_PEOPLE`)."""
    return object_kind in NAMES_PEOPLE.get(spec_kind, ())


def workload_resources() -> tuple[Resource, ...]:
    """Resources some tenant workload kind renders: what a tenant's deployer may write in its namespace."""
    return _first_of_each(r for kind, declared in PRODUCES.items() if KINDS[kind].workload for r in declared)


def platform_resources() -> tuple[Resource, ...]:
    """Resources some platform kind renders: what mlcp writes with its own identity."""
    return _first_of_each(r for kind, declared in PRODUCES.items() if not KINDS[kind].workload for r in declared)


def granted(workload_only: bool) -> tuple[Grant, ...]:
    """What the kinds' rendered Roles grant (only workload kinds': what tenant deployers must hold)."""
    return tuple(
        sorted({g for kind, grants in GRANTS.items() if KINDS[kind].workload or not workload_only for g in grants})
    )


def editable(api_version: str, kind: str) -> EditableFields | None:
    """What an update of an object of this type may change (`PlanOptions.editable`); None: anything."""
    found = find(api_version, kind)
    return found.editable if found is not None else None


def by_group(declared: tuple[Resource, ...]) -> list[tuple[str, list[str]]]:
    """(group, plurals) in first-seen order: the shape of an RBAC rule per group."""
    groups: dict[str, list[str]] = {}
    for r in declared:
        plurals = groups.setdefault(r.group, [])
        if r.plural not in plurals:
            plurals.append(r.plural)
    return list(groups.items())


def declare_access(api_version: str, kind: str) -> None:
    """Record that objects of `kind` (of a system with no `Resource`, e.g. MLflow) give people access."""
    ACCESS_ELSEWHERE.add((api_version, kind))


class _Access(Container[tuple[str, str]]):
    """(apiVersion, kind) of the objects that give people access, read from the declarations each time."""

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        api_version, kind = key
        found = find(str(api_version), str(kind))
        return (found is not None and found.grants_access) or key in ACCESS_ELSEWHERE


ACCESS: Container[tuple[str, str]] = _Access()
"""Whether an object type gives people access: planning deletes such an object removed from git even with prune
off (`PlanOptions.access`), so a person a change removed does not keep what the object granted."""


class _Ranks(Mapping[str, int]):
    """Object kind → rank, read from the declarations each time (kinds may be declared after import)."""

    def _current(self) -> dict[str, int]:
        if _derived.ranks is None:
            _derived.ranks = {r.kind: r.rank for r in resources()}
        return _derived.ranks

    def __getitem__(self, kind: str) -> int:
        return self._current()[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


RANKS: Mapping[str, int] = _Ranks()
