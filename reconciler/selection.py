"""Which tenants a pass plans: those whose desired or live state changed, and every tenant on a full resync.

Diffing 9,001 desired objects against live ones took most of a no-op pass at
1,000 tenants, and grows with N. Most passes follow a commit to one tenant, or
nothing at all. So a pass plans only the tenants that may have changed since
the last pass:

- the tenants whose rendered objects changed (the incremental loader names
  them; a change outside `tenants/` or a force push renders everything);
- the tenants whose trusted-base people changed (the trusted base is the
  revision the last pass applied, so its `tenant.yaml` files move a pass late);
- the tenants that did not converge last time (failed, set aside, held,
  lagging behind the last revision): they are retried until they do;
- any object a system reports changed live (the watch cache's events), with
  whichever tenant mlcp's own records attribute it to.

Unchanged tenants' last plan results (converged, nothing to do) are trusted
until the next full pass: on start, on a new leadership term, after a pass that
failed as a whole, when the loader or the trusted base had to read everything,
and every `resync` interval, when live state is listed again instead of read
from the watch (drift a lost watch event hid is found then).

A `Selection` is a value, so another predicate (the tenants a shard owns)
narrows it with `&`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from controlplane.inventory import Inventory
from controlplane.plans import DesiredObject, LiveObject, ObjectRef, Plan
from reconciler.backends.base import LiveState

PLATFORM = ""
"""The key of objects of no tenant (as reconciler.partition): always planned, they are few."""


@dataclass(frozen=True)
class Selection:
    """The tenants a pass plans: every one (`tenants` None), or only these (and the platform's objects)."""

    tenants: frozenset[str] | None
    reason: str
    """Why: `full: <cause>` or `changed`, for logs and metrics."""

    @classmethod
    def everything(cls, cause: str) -> Selection:
        return cls(None, f"full: {cause}")

    @classmethod
    def only(cls, tenants: Iterable[str]) -> Selection:
        return cls(frozenset(tenants) - {PLATFORM}, "changed")

    @property
    def full(self) -> bool:
        return self.tenants is None

    def includes(self, tenant: str | None) -> bool:
        return self.tenants is None or not tenant or tenant in self.tenants

    def __and__(self, owned: frozenset[str]) -> Selection:
        """Only the tenants of both (e.g. the tenants this replica's shards own)."""
        return Selection(owned if self.tenants is None else self.tenants & owned, self.reason)


def choose(
    full: str | None,
    rendered: Iterable[str] | None,
    base_changed: Iterable[str] | None,
    unsettled: Iterable[str],
) -> Selection:
    """The selection of a pass.

    `full`: why this pass must plan everything (None: no reason); `rendered`: tenants whose desired objects
    were rendered again (None: all were); `base_changed`: tenants whose people differ in the trusted base
    from the last pass's (None: the base was read whole); `unsettled`: tenants that did not converge.
    """
    if full is not None:
        return Selection.everything(full)
    if rendered is None:
        return Selection.everything("the desired state was read whole (a change outside tenants/, or no history)")
    if base_changed is None:
        return Selection.everything("the trusted base's rules changed")
    return Selection.only({*rendered, *base_changed, *unsettled})


@dataclass(frozen=True)
class Scope:
    """The objects a pass plans, per system: a system absent from `refs` is planned whole."""

    refs: Mapping[str, frozenset[ObjectRef]]

    def includes(self, ref: ObjectRef) -> bool:
        found = self.refs.get(ref.system)
        return found is None or ref in found


def scope(
    selection: Selection,
    desired: Iterable[DesiredObject],
    inventories: Iterable[Inventory],
    dirty: Mapping[str, frozenset[ObjectRef] | None],
    always: Iterable[ObjectRef] = (),
    everything: Iterable[DesiredObject] | None = None,
) -> Scope | None:
    """The refs to plan in each system that reports its live changes (`dirty`, None: it cannot tell).

    A ref is planned when a selected tenant declares it (desired) or mlcp's inventory records it as a
    selected tenant's (so a deleted tenant's objects are pruned), when it changed live, or when it is in
    `always` (objects whose desired state follows another system's live state, e.g. serving). An
    inventoried object without a record (an older inventory) is attributed by the desired state
    (`everything`, when `desired` holds only the candidates), and planned when nothing declares it; an
    unreadable record is always planned. Pairing is per ref, so a planned ref is always planned with both its
    desired and its live object. None: plan all. Only the planned refs are hashed, and the inventory's
    records are looked up by tenant (`Inventory.recorded_for`): at 90,000 objects that is the difference
    between milliseconds and seconds.
    """
    tenants = selection.tenants
    if tenants is None:
        return None
    refs: dict[str, set[ObjectRef]] = {s: set(changed) for s, changed in dirty.items() if changed is not None}
    desired = list(desired)
    for obj in desired:  # the loops run per object: no call that is not needed
        if (not obj.tenant or obj.tenant in tenants) and obj.ref.system in refs:
            refs[obj.ref.system].add(obj.ref)
    declared: set[ObjectRef] | None = None
    for inventory in inventories:
        for ref in inventory.recorded_for(tenants):
            if ref.system in refs:
                refs[ref.system].add(ref)
        if len(inventory.records) < len(inventory.refs):
            if declared is None:
                declared = {o.ref for o in (desired if everything is None else everything) if o.ref.system in refs}
            for ref in inventory.refs - inventory.records.keys() - declared:
                if ref.system in refs:
                    refs[ref.system].add(ref)
    for ref in always:
        if ref.system in refs:
            refs[ref.system].add(ref)
    return Scope({system: frozenset(found) for system, found in refs.items()})


def live_in(scope: Scope | None, system: str, live: Mapping[ObjectRef, LiveObject]) -> Mapping[ObjectRef, LiveObject]:
    """The live objects of `system` a pass plans (a lookup per planned ref, not a scan of every object)."""
    refs = scope.refs.get(system) if scope is not None else None
    if refs is None:
        return live
    return {ref: live[ref] for ref in refs if ref in live}


def unplanned(plan: Plan, states: Mapping[str, LiveState]) -> Mapping[str, frozenset[ObjectRef]]:
    """Per system, the inventoried objects a pass that planned only some tenants left alone: they stay in the
    inventory. Each system's set is made only when asked for (`Unplanned`): apply asks only for a backend that
    needs the whole set (not `partial_inventory`), and the Kubernetes inventory of 90,000 objects is never copied
    for a pass that planned one tenant."""
    return Unplanned(plan, states)


class Unplanned(Mapping[str, frozenset[ObjectRef]]):
    """`unplanned`'s mapping: a system's set, made on first use (set arithmetic on the inventory's own set)."""

    def __init__(self, plan: Plan, states: Mapping[str, LiveState]) -> None:
        self._plan, self._states = plan, states
        self._planned: set[ObjectRef] | None = None
        self._made: dict[str, frozenset[ObjectRef]] = {}

    def __getitem__(self, system: str) -> frozenset[ObjectRef]:
        if system not in self._made:
            state = self._states[system]
            if self._planned is None:
                self._planned = {c.ref for c in self._plan.changes}
            self._made[system] = state.inventory.refs - self._planned
        return self._made[system]

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)
