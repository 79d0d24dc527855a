"""What an apply records in mlcp's inventory: creates before they are sent, and everything after.

The inventory is what exists because of mlcp, with whose each object is (`Claim`, from the change that wrote it,
never from the live object). Objects about to be created are recorded before their creates are sent (in a few
growing runs ahead of the writes), so a pass cut short after creating a namespace still knows it is mlcp's; a
create whose answer was lost keeps that record (it may have happened). After the writes, each system's records
are written once, only for systems whose live state the plan was made from, and a pass that planned a few
tenants hands a backend only what it planned when the backend keeps the rest (`partial_inventory`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from controlplane.inventory import Claim, InventoryRecord
from controlplane.plans import Action, Change, ObjectRef, Plan
from reconciler.apply_order import lane
from reconciler.backends.base import ApplyOptions, Backend, Outcome, Status


class Ahead:
    """The objects about to be created, recorded in the inventory before their creates are sent.

    Before the first write: the first chunk's creates and every create that is not in a namespace lane
    (reconciler.apply_order: MLflow's objects, cluster-wide ones). Then, while writes are in flight, ever
    larger runs of the lanes' creates (each record is a write of the whole inventory, so a few of them, not
    one per chunk). A record made while writes are in flight is therefore only ever of namespaced objects, in
    the backend of the cluster, which keeps its inventory apart from its writes. The applied revision is not
    advanced."""

    def __init__(
        self,
        plan: Plan,
        backends: Mapping[str, Backend],
        changes: Sequence[Change],
        options: ApplyOptions,
        unplanned: Mapping[str, frozenset[ObjectRef]] | None,
    ) -> None:
        self.backends, self.changes, self.options = backends, changes, options
        self.recorded = 0
        """How many of `changes` (in order) are covered: every create among them is in the inventory."""
        self._refs: dict[str, tuple[frozenset[ObjectRef], frozenset[ObjectRef] | None]] = {}
        for system, backend in backends.items():
            planned = frozenset(c.ref for c in plan.changes if c.ref.system == system)
            self._refs[system] = inventory_refs(backend, system, planned, planned, unplanned)

    def first(self, end: int) -> None:
        """Before the first write: the creates among the first `end` changes, and every create of no lane."""
        upto = min(len(self.changes), end)
        self._record([c for i, c in enumerate(self.changes) if i < upto or lane(c) is None])
        self.recorded = upto

    def through(self, end: int) -> None:
        """Make sure every create among the first `end` changes is recorded (and, if that takes a write, a
        run of the next ones: sixteen times as many as are recorded so far)."""
        if end <= self.recorded:
            return
        upto = min(len(self.changes), max(end, 16 * self.recorded))
        self._record([c for c in self.changes[self.recorded : upto] if lane(c) is not None])
        self.recorded = upto

    def _record(self, changes: Sequence[Change]) -> None:
        for system, backend in self.backends.items():
            creates = {
                c.ref: Claim(InventoryRecord.of(c), wrote=True)
                for c in changes
                if c.ref.system == system and c.action is Action.create
            }
            if creates:
                refs, only = self._refs[system]
                backend.record_inventory(refs, replace(self.options, revision=None, claims=creates, only=only))


def unread_systems(plan: Plan, backends: Iterable[str]) -> frozenset[str]:
    """Of `backends`, the systems whose live state this plan was not made from: reported unreachable, or not
    connected when it was planned. No inventory is recorded for them: they planned nothing, and recording what the
    plan holds of one (nothing) would drop every record of it (a registry that did not answer while planning, back
    by the end of the apply). A plan that states no systems (one built by hand) was made from all of them."""
    if not plan.systems:
        return frozenset()
    read = {s.system for s in plan.systems if s.reachable}
    return frozenset(system for system in backends if system not in read)


def record_inventories(
    plan: Plan,
    backends: Mapping[str, Backend],
    outcomes: Sequence[Outcome],
    options: ApplyOptions,
    unplanned: Mapping[str, frozenset[ObjectRef]] | None,
) -> None:
    """Inventory = what exists because of mlcp: desired objects present, plus deletes not done.

    Claims (attribution) come from the changes that were written, and from no-ops of objects that exist;
    a blocked change claims nothing. Two changes of one object (two tenants declaring one namespace)
    never both claim it: a write wins over a no-op, and two differing no-ops leave the old record.
    """
    results = {id(o.change): o.status for o in outcomes}
    unanswered = {id(o.change) for o in outcomes if o.uncertain and o.change.action is Action.create}
    unread = unread_systems(plan, backends)
    for system, backend in backends.items():
        if system in unread:
            continue  # its live state was not read for this plan: it planned nothing, so its records stay as they are
        refs: set[ObjectRef] = set()  # with the objects the plan left alone (`unplanned`) below: no copy of them
        planned: set[ObjectRef] = set()
        claims: dict[ObjectRef, Claim] = {}
        conflicting: set[ObjectRef] = set()
        for change in plan.changes:
            if change.ref.system != system:
                continue
            planned.add(change.ref)
            status = results.get(id(change))
            if change.action is Action.delete:
                if status is not Status.deleted:
                    refs.add(change.ref)
                continue
            maybe_made = id(change) in unanswered  # recorded ahead; its record stays (Outcome.uncertain)
            if change.action is Action.noop or change.action is Action.update or status is Status.applied or maybe_made:
                refs.add(change.ref)
            claim = Claim(InventoryRecord.of(change), wrote=True) if maybe_made else _claim(change, status)
            held = claims.get(change.ref)
            if claim is None or (held is not None and held.wrote and not claim.wrote):
                continue
            if held is not None and not held.wrote and not claim.wrote and held.record != claim.record:
                conflicting.add(change.ref)
            claims[change.ref] = claim
        for ref in conflicting:
            if not claims[ref].wrote:
                del claims[ref]
        written, only = inventory_refs(backend, system, frozenset(refs), frozenset(planned), unplanned)
        backend.record_inventory(written, replace(options, claims=claims, only=only))


def inventory_refs(
    backend: Backend,
    system: str,
    refs: frozenset[ObjectRef],
    planned: frozenset[ObjectRef],
    unplanned: Mapping[str, frozenset[ObjectRef]] | None,
) -> tuple[frozenset[ObjectRef], frozenset[ObjectRef] | None]:
    """What `record_inventory` is handed: `refs` (those of the `planned` objects that may be mlcp's) and
    `ApplyOptions.only`. A pass that planned everything (`unplanned` None or empty): `refs` alone. One that
    planned a few tenants: to a backend that keeps what it was not shown (`partial_inventory`), `refs` and
    `only` the planned objects, so nothing copies the inventory's other objects; to any other, `refs` with every
    unplanned object."""
    if not unplanned:
        return refs, None
    if backend.partial_inventory:
        return refs, planned
    return refs | unplanned.get(system, frozenset()), None


def _claim(change: Change, status: Status | None) -> Claim | None:
    if change.blocked:
        return None
    if status is Status.applied:
        return Claim(InventoryRecord.of(change), wrote=True)
    if change.action is Action.noop and change.live_version is not None:
        return Claim(InventoryRecord.of(change), wrote=False)
    return None
