"""What a pass that planned some tenants plans of a revision: its candidates, its scope and what it declares.

A loop pass plans the tenants whose specs or live objects changed, not a repo of 90,000 objects, so the engine
must find a selection's objects without walking every one: a revision's desired objects are indexed by tenant,
by ref and by system (each index built on first use, from the loader's own grouping when it has one, and kept
for the last revisions planned), and the objects that follow the registry are found once per rendered list.
A sharded replica plans only the tenants its systems were read for (`covered`). Apart from the engine, whose
`make_plan` asks here; a whole plan (no selection) never does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property

from controlplane.inventory import Inventory
from controlplane.plans import DesiredObject, ObjectRef
from reconciler import governance, serving
from reconciler import selection as selections
from reconciler.backends.base import LiveState
from reconciler.desired import Desired
from reconciler.refindex import RefIndex
from reconciler.selection import Selection


def covered(objects: list[DesiredObject], states: Mapping[str, LiveState]) -> list[DesiredObject]:
    """The objects whose live state was read: a sharded replica's systems hold only its tenants' (LiveState.covers),
    so another replica's tenants are not planned here (they would all look absent: creates, namespace lookups)."""
    if all(s.covers is None for s in states.values()):
        return objects
    return [o for o in objects if not o.tenant or (covers := states[o.ref.system].covers) is None or covers(o.tenant)]


def scope(
    selection: Selection | None,
    objects: list[DesiredObject],
    desired: Desired,
    inventories: list[Inventory],
    dirty: Mapping[str, frozenset[ObjectRef] | None],
) -> selections.Scope | None:
    """What a selection plans. Governance objects change only with the revision or the base, which the
    selection already follows; serving follows the registry's live state, so it is always planned."""
    if selection is None or selection.tenants is None:
        return None
    always = _index(desired).follows
    dirty = {**dirty, governance.SYSTEM: frozenset()}
    return selections.scope(selection, objects, inventories, dirty, always, desired.objects)


_FOLLOWS: dict[int, tuple[Sequence[DesiredObject], list[ObjectRef]]] = {}
"""Each rendered list's refs that follow the registry, by the list's identity (the list is kept with them, so
its id is never reused while it is here)."""
_FOLLOWS_KEPT = 50_000


def _following(objects: Iterable[DesiredObject]) -> list[ObjectRef]:
    kind = serving.INFERENCE_SERVICE
    return [o.ref for o in objects if o.ref.kind == kind and serving.follows_registry(o)]


class _Index:
    """A revision's desired objects by tenant ("" for none), by ref and by system, and those that follow the
    registry: each built on first use, from the loader's own grouping by tenant when it has one."""

    def __init__(self, desired: Desired) -> None:
        self.objects = desired.objects
        self._by_tenant = desired.by_tenant
        self._refs = desired.refs

    @cached_property
    def by_tenant(self) -> Mapping[str, Sequence[DesiredObject]]:
        if self._by_tenant is not None:
            return self._by_tenant
        found: dict[str, list[DesiredObject]] = {}
        for obj in self.objects:
            found.setdefault(obj.tenant or "", []).append(obj)
        return found

    @cached_property
    def follows(self) -> list[ObjectRef]:
        """The refs of the objects that follow the registry; with the loader's grouping by tenant, each tenant's
        found once per rendered list (a revision keeps the lists of the tenants it did not change), not by a walk
        of every object of every revision."""
        if self._by_tenant is None:
            return _following(self.objects)
        found: list[ObjectRef] = []
        for objects in self._by_tenant.values():
            kept = _FOLLOWS.get(id(objects))
            if kept is None or kept[0] is not objects:
                if len(_FOLLOWS) >= _FOLLOWS_KEPT:
                    _FOLLOWS.clear()
                kept = _FOLLOWS[id(objects)] = (objects, _following(objects))
            found.extend(kept[1])
        return found

    @cached_property
    def _by_ref(self) -> RefIndex:
        """The loader's index by ref when it carries one, else one built from the objects."""
        return self._refs() if self._refs is not None else RefIndex.of(self.objects)

    def declaring(self, ref: ObjectRef) -> list[DesiredObject]:
        """The objects that declare `ref` (asked only when a pass plans an object outside its selected tenants:
        a live change, a record, a deleted object)."""
        return self._by_ref.declaring(ref)

    def of_system(self, system: str) -> list[DesiredObject]:
        """A system planned whole (it cannot say what changed live)."""
        return [o for o in self.objects if o.ref.system == system]


_INDEXES: list[tuple[Desired, _Index]] = []
"""The indexes of the last revisions planned: a loop pass at the same revision looks up, not walks, 90,000
objects."""


def _index(desired: Desired) -> _Index:
    for kept, index in _INDEXES:
        if kept is desired:
            return index
    index = _Index(desired)
    _INDEXES.insert(0, (desired, index))
    del _INDEXES[2:]
    return index


def declaring(desired: Desired, scope: selections.Scope, objects: list[DesiredObject]) -> list[DesiredObject]:
    """The desired objects of refs the scope plans that are not among `objects` (the candidates): an object of
    a tenant not selected that changed live, or that mlcp's records give to a selected tenant. Planned with
    its desired state, never as a stranger to delete."""
    have = {o.ref for o in objects}
    missing = [ref for refs in scope.refs.values() for ref in refs if ref not in have]
    if not missing:
        return []
    index = _index(desired)
    return [o for ref in missing for o in index.declaring(ref)]


def candidates(
    desired: Desired,
    tenants: frozenset[str],
    states: Mapping[str, LiveState],
    dirty: Mapping[str, frozenset[ObjectRef] | None],
) -> list[DesiredObject]:
    """The desired objects a selection may plan: every object of a system that cannot say what changed live
    (it is planned whole), and the platform's and the selected tenants' objects of the others."""
    index = _index(desired)
    whole = {name for name in states if dirty.get(name) is None and name != governance.SYSTEM}
    found = [o for name in whole for o in index.of_system(name)]
    for tenant in ("", *tenants):
        found.extend(o for o in index.by_tenant.get(tenant, ()) if o.ref.system not in whole)
    return found
