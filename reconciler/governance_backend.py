"""The trusted base as a live system: reading it is free, applying to it writes nothing.

The governance objects (reconciler.governance) of the trusted base are the live state of the `governance`
system, so the ordinary planner shows every difference between the base and the revision under review, with
exact diffs (`review`), and the authorizer judges it. Not registered: it is never connected from the operator's
settings, but built by the engine from the trusted base, and kept while the base is (the loop judges pass after
pass by one base; the base that follows it is derived with only the changed tenants rendered again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from controlplane.inventory import Inventory, InventoryRecord
from controlplane.plans import Action, Change, DesiredObject, LiveObject, ObjectRef, spec_text
from reconciler import governance
from reconciler.backends.base import ApplyOptions, Backend, LiveState, Outcome, Status
from reconciler.governance import API_VERSION, SYSTEM, TENANT_KINDS, full_diff, render
from reconciler.trust import TrustedBase


class GovernanceBackend(Backend):
    """The trusted base as a live system: reading it is free, applying to it writes nothing.

    Not registered: it is never connected from settings, but built by the engine from the trusted base.
    """

    system = SYSTEM
    order = 1000
    """Accepted after every other system's writes."""

    def __init__(self, base: TrustedBase, objects: dict[ObjectRef, DesiredObject] | None = None) -> None:
        self.base = base
        self.objects = objects if objects is not None else {o.ref: o for o in render(base.repo, base.files)}
        self._state: LiveState | None = None
        self._known: tuple[Inventory, frozenset[ObjectRef]] | None = None
        """The inventory of the backend this one was derived from, and the refs that differ (its records are
        reused: a record depends on its object only)."""

    @classmethod
    def of(cls, base: TrustedBase) -> GovernanceBackend:
        """The backend of a trusted base, kept while the base is: the loop judges pass after pass by the same
        base, whose live state (one object per tenant) is then built once, not once a pass; and the backend of
        the base that follows it (the revision the loop just applied) from this one, with only the changed
        tenants' people rendered again (`_derived`)."""
        for kept in _KEPT:
            if kept.base is base:
                return kept
        made = next((d for kept in _KEPT if (d := cls._derived(kept, base)) is not None), None) or cls(base)
        _KEPT.insert(0, made)
        del _KEPT[KEPT_BASES:]
        return made

    @classmethod
    def _derived(cls, kept: GovernanceBackend, base: TrustedBase) -> GovernanceBackend | None:
        """`base`'s backend from `kept`'s, when `base` was loaded from `kept.base` with only tenants' tenant.yaml
        changed (`base.since`: its policy, files, config and every other tenant's loaded spec are `kept.base`'s);
        else None. The objects are exactly `render(base.repo, base.files)`'s: the others' are the same objects
        rendered from the same specs, and the changed tenants' are rendered from the base's own parts."""
        since, parts = base.since, base.parts
        if since is None or parts is None or since[0] != kept.base.revision or base.shared is not kept.base.shared:
            return None
        if base.shared is None or base.shared.of_kind("Tenant") or base.files is not kept.base.files:
            return None  # a Tenant spec outside tenants/ could share a changed tenant's name: render it all
        objects = dict(kept.objects)
        touched = {ObjectRef(SYSTEM, API_VERSION, kind, None, tenant) for tenant in since[1] for kind in TENANT_KINDS}
        for ref in touched:
            objects.pop(ref, None)
        for tenant in sorted(since[1] & parts.keys()):
            rendered = [o for loaded in parts[tenant].of_kind("Tenant") for o in governance.tenant_objects(loaded)]
            objects.update((o.ref, o) for o in rendered)
            touched.update(o.ref for o in rendered)
        made = cls(base, objects)
        if kept._state is not None:
            made._known = (kept._state.inventory, frozenset(touched))
        return made

    @property
    def target(self) -> str:
        return f"trusted base {self.base.describe()}"

    def read(self) -> LiveState:
        """The base as live state (built once: it never changes, and nobody writes into a LiveState)."""
        if self._state is None:
            live = {ref: LiveObject(ref, o.manifest, self.base.revision) for ref, o in self.objects.items()}
            self._state = LiveState(live, self._inventory())
            self._known = None
        return self._state

    def _inventory(self) -> Inventory:
        """The base's objects as mlcp's records; from the backend this one was derived from, when it was: only
        the `touched` refs' records are made, and its index by tenant is moved, not rebuilt."""
        if self._known is None:
            records = {ref: _record(o) for ref, o in self.objects.items()}
            return Inventory(frozenset(self.objects), records=records)
        kept, touched = self._known
        return kept.replaced({ref: _record(self.objects[ref]) for ref in touched if ref in self.objects}, touched)

    def review(self, changes: Sequence[Change]) -> list[Change]:
        """Exact diffs against the base, and deletes attributed from the base (they delete nothing live)."""
        out = []
        for change in changes:
            before = self.objects.get(change.ref)
            if change.action is Action.delete and before is not None:
                out.append(
                    replace(
                        change,
                        spec=before.spec,
                        tenant=before.tenant,
                        source=before.source,
                        blocked=None,
                        reason="removed from the revision under review",
                        diffs=tuple(full_diff(before.manifest, None)),
                    )
                )
                continue
            if before is None or change.desired is None:
                out.append(change)
                continue
            diffs = tuple(full_diff(before.manifest, change.desired))
            if not diffs:
                out.append(replace(change, action=Action.noop, reason="same as the trusted base", diffs=()))
                continue
            fields = ", ".join(d.dotted for d in diffs[:3]) + (", …" if len(diffs) > 3 else "")
            out.append(
                replace(change, action=Action.update, reason=f"differs from the trusted base: {fields}", diffs=diffs)
            )
        return out

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        status = Status.deleted if change.action is Action.delete else Status.applied
        return Outcome(change, status, "accepted; trusted once this revision is recorded as applied")

    def current_version(self, ref: ObjectRef) -> str | None:
        return self.base.revision if ref in self.objects else None

    @property
    def partial_inventory(self) -> bool:
        return True  # it records nothing: no need to be handed the objects a pass did not plan

    def record_inventory(self, refs: frozenset[ObjectRef], options: ApplyOptions) -> None:
        """Nothing to record: the applied revision, kept by the cluster backend, is this system's state."""


def _record(obj: DesiredObject) -> InventoryRecord:
    return InventoryRecord(spec_text(obj.spec), obj.tenant, obj.source)


KEPT_BASES = 2
_KEPT: list[GovernanceBackend] = []
"""The backends of the last trusted bases (basechoice.load_trusted keeps the bases themselves)."""
