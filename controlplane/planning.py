"""Planning: pair desired objects with live ones and decide, per object, what apply must do.

Pure: desired objects, live objects and mlcp's inventory in, a `Plan` out. An
object is only ever planned for deletion when mlcp's own inventory records it
as applied by mlcp AND it still carries mlcp's labels (it was found by label
selector): a label copied onto someone else's object never makes it prunable.

Who a delete belongs to (its spec, tenant and source file, which decide the
rule that may authorize it) and whether a namespace is protected come only
from the record mlcp wrote when it last applied the object, never from the
live object: its labels and annotations can be edited by whoever can edit the
object (a namespace admin, a registry user), so trusting them would let that
person choose the rule that judges the deletion. An object without a record
(an inventory written by an older mlcp) is attributed to no spec and no
tenant, so only a rule over every kind in every tenant can allow deleting it;
an unreadable record blocks that one object's deletion.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controlplane.diffing import managed_diff
from controlplane.labels import ADOPTED_ANNOTATION, COMMIT_ANNOTATION, PROTECTION_ANNOTATION
from controlplane.plans import (
    Action,
    Change,
    DesiredObject,
    EditableFields,
    LiveObject,
    ObjectRef,
    Plan,
    SystemStatus,
    spec_key,
    spec_text,
)

RANK_OF_UNKNOWN = 100
PROVENANCE = ("metadata", "annotations", COMMIT_ANNOTATION)
NAMESPACE = "Namespace"
_TENANT = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_KIND = re.compile(r"[A-Z][A-Za-z0-9]{0,62}")


@dataclass(frozen=True, slots=True)
class LastSet:
    """What mlcp itself last set an object to, recorded by mlcp in the apply that set it (a model alias's version).

    Tenants may move such an object too (anyone with EDIT on a model moves its aliases), and the tags mlcp writes
    on the object are theirs to rewrite: whether a difference is drift (a hand move that mlcp restores, not held
    by freeze windows) or a declared change is decided from this record only.
    """

    version: str
    commit: str | None = None
    """The last commit that touched the spec that asked for it."""
    by: str | None = None
    """Who was identified as its author(s) (signers where signatures are required)."""
    at: str | None = None
    """When mlcp set it (UTC, ISO 8601)."""


@dataclass(frozen=True, slots=True)
class InventoryRecord:
    """Whose an object is, as mlcp recorded it when it last wrote the object."""

    spec: str | None
    tenant: str | None
    source: str | None
    protected: bool = False
    """A Namespace whose tenant had deletion protection on."""
    adopted: bool = False
    """A Namespace that existed before mlcp took it over (`adoptNamespace`): never deleted."""
    error: str | None = None
    """Why the stored record could not be read; such a record attributes nothing."""
    last_set: LastSet | None = None
    """What mlcp last set the object to, where its backend records that (None: unknown, or never set)."""

    @classmethod
    def checked(
        cls, spec: Any, tenant: Any, source: Any, protected: Any = False, adopted: Any = False
    ) -> InventoryRecord:
        """A record read back from storage; values that are not what mlcp writes make an unreadable record."""
        problem = _problem(spec, tenant, source, protected, adopted)
        if problem:
            return cls(None, None, None, error=problem)
        return cls(spec, tenant, source, bool(protected), bool(adopted))

    @classmethod
    def of(cls, change: Change) -> InventoryRecord:
        """The record of a change mlcp applies: attribution from git (the change), never from live state."""
        annotations = ((change.desired or {}).get("metadata") or {}).get("annotations") or {}
        namespace = change.ref.kind == NAMESPACE
        return cls(
            spec=spec_text(change.spec),
            tenant=change.tenant,
            source=change.source,
            protected=namespace and annotations.get(PROTECTION_ANNOTATION) == "true",
            adopted=namespace and annotations.get(ADOPTED_ANNOTATION) == "true",
        )


def _problem(spec: Any, tenant: Any, source: Any, protected: Any, adopted: Any) -> str | None:
    """What is wrong with stored attribution values (None: nothing): types, shapes, and agreement."""
    for name, value in (("spec", spec), ("tenant", tenant), ("source", source)):
        if value is not None and (not isinstance(value, str) or not value or len(value) > 1024):
            return f"{name} is {value!r}, not a non-empty string or null"
    if not isinstance(protected, bool) or not isinstance(adopted, bool):
        return f"flags are {protected!r}/{adopted!r}, not true or false"
    if tenant is not None and not _TENANT.fullmatch(tenant):
        return f"tenant {tenant!r} is not a DNS label"
    if source is not None and (source.startswith("/") or ".." in source.split("/")):
        return f"source {source!r} is not a path inside the config repo"
    if spec is None:
        return None if tenant is None else f"tenant {tenant!r} without a spec"
    parts = spec.split("/")
    if not _KIND.fullmatch(parts[0]) or len(parts) not in (2, 3) or not all(parts):
        return f"spec {spec!r} is not Kind/name or Kind/tenant/name"
    if (parts[1] if len(parts) == 3 else None) != tenant:
        return f"spec {spec!r} does not belong to tenant {tenant!r}"
    return None


@dataclass(frozen=True, slots=True)
class Claim:
    """What an apply tells the inventory about one object it wrote (or found up to date)."""

    record: InventoryRecord
    wrote: bool
    """True: the object was written now, its record is replaced. False: a no-op, which only fills a missing record."""


@dataclass(frozen=True)
class Inventory:
    """The objects mlcp has applied, as recorded in the target system by mlcp itself."""

    refs: frozenset[ObjectRef] = frozenset()
    version: str | None = None
    revision: str | None = None
    """The config repo revision last applied (the base from which authorship is judged)."""
    records: Mapping[ObjectRef, InventoryRecord] = field(default_factory=dict, compare=False)
    """Attribution of each object in `refs` (missing for objects recorded by an older mlcp)."""
    _index: dict[str, frozenset[ObjectRef]] | None = field(default=None, init=False, compare=False, repr=False)
    """The recorded objects by tenant ("" for no tenant, or an unreadable record): built on first use."""
    _within: bool | None = field(default=None, init=False, compare=False, repr=False)
    """Whether every record is of an object in `refs` (None: not looked at yet)."""
    changed_from: tuple[Mapping[ObjectRef, InventoryRecord], frozenset[ObjectRef]] | None = field(
        default=None, init=False, compare=False, repr=False
    )
    """(records, refs): `updated` made this inventory from the one with those records, changing only those refs'
    records or membership (a writer of the stored inventory then encodes only what changed, comparing nothing)."""

    def recorded_for(self, tenants: Iterable[str]) -> frozenset[ObjectRef]:
        """The objects whose record names one of `tenants`, no tenant, or is unreadable (see `_tenant_key`).

        An index kept with the inventory (and carried through `updated`), so a pass that plans one tenant
        looks up that tenant's objects instead of walking every record."""
        index = self._index
        if index is None:
            grouped: dict[str, set[ObjectRef]] = {}
            for ref, record in self.records.items():
                grouped.setdefault(_tenant_key(record), set()).add(ref)
            index = {tenant: frozenset(refs) for tenant, refs in grouped.items()}
            object.__setattr__(self, "_index", index)
        found: set[ObjectRef] = set(index.get("", ()))
        for tenant in tenants:
            found |= index.get(tenant, frozenset())
        return frozenset(found)

    def _records_within(self) -> bool:
        """Whether every record is of an object in `refs` (known for an inventory `updated` made; else looked up
        once and kept)."""
        if self._within is None:
            object.__setattr__(self, "_within", self.records.keys() <= self.refs)
        return bool(self._within)

    def _moved_index(
        self,
        index: dict[str, frozenset[ObjectRef]],
        records: Mapping[ObjectRef, InventoryRecord],
        touched: set[ObjectRef],
    ) -> dict[str, frozenset[ObjectRef]]:
        """`index` (this inventory's) moved to `records`, which differ from this inventory's only at `touched`."""
        index = dict(index)
        moved: dict[str, set[ObjectRef]] = {}
        for ref in touched:
            old, new = self.records.get(ref), records.get(ref)
            if old is not None:
                moved.setdefault(_tenant_key(old), set(index.get(_tenant_key(old), ()))).discard(ref)
            if new is not None:
                moved.setdefault(_tenant_key(new), set(index.get(_tenant_key(new), ()))).add(ref)
        index.update((tenant, frozenset(refs)) for tenant, refs in moved.items())
        return index

    def replaced(self, records: Mapping[ObjectRef, InventoryRecord], touched: frozenset[ObjectRef]) -> Inventory:
        """This inventory with the `touched` objects recorded as `records` says (those it leaves out are gone),
        every other one as before; its index by tenant moved, not rebuilt (a change of a few objects of
        10,000 tenants walks those few)."""
        merged = dict(self.records)
        for ref in touched:
            merged.pop(ref, None)
        merged.update((ref, record) for ref, record in records.items() if ref in touched)
        refs = (self.refs - touched) | (records.keys() & touched)
        replaced = Inventory(refs, self.version, self.revision, merged)
        if self._index is not None:
            object.__setattr__(replaced, "_index", self._moved_index(self._index, merged, set(touched)))
        return replaced

    def at(self, version: str | None, revision: str | None) -> Inventory:
        """This inventory as stored at `version`, recording `revision` (its index carried over)."""
        stored = Inventory(self.refs, version, revision, self.records)
        object.__setattr__(stored, "_index", self._index)
        object.__setattr__(stored, "_within", self._within)
        object.__setattr__(stored, "changed_from", self.changed_from)
        return stored

    def owner_of(self, ref: ObjectRef) -> InventoryRecord | None:
        """The record of an inventoried object (None when mlcp has none, or did not apply it)."""
        return self.records.get(ref) if ref in self.refs else None

    def updated(
        self, refs: Iterable[ObjectRef], claims: Mapping[ObjectRef, Claim], only: frozenset[ObjectRef] | None = None
    ) -> Inventory:
        """The inventory after an apply: `refs` are the objects that may be mlcp's, `claims` what it wrote.

        An object stays or enters only when it was inventoried before or is claimed now, so a change
        that was blocked or failed never brings a stranger's object in. A write replaces the record; a
        no-op keeps the old one (it was not authorized, so it must not re-attribute anything) and only
        fills a record that is missing or unreadable. Adoption is never forgotten.

        `only`: the apply looked at these objects alone (a loop pass that planned a few tenants): `refs` names
        those of them that may be mlcp's, and every inventoried object outside `only` stays as it is — the
        same inventory as `updated(refs | (self.refs - only), claims)`, without a copy of every other object.
        """
        refs = refs if isinstance(refs, frozenset) else frozenset(refs)
        if only is None:
            delta = refs ^ self.refs
        else:
            if not refs <= only:
                raise ValueError("Inventory.updated: `refs` must be among `only`")
            delta = (refs - self.refs) | {ref for ref in only if ref in self.refs and ref not in refs}
        if not delta and all(_keeps(self.records.get(r), c) for r, c in claims.items() if r in refs):
            return self.at(None, self.revision)  # a no-op apply: nothing to compare
        # Python only per object that entered, left or is claimed; C copies of the refs when one entered or left
        # and of the records when one changed: a pass that wrote one tenant's objects costs about the same at
        # 90,000 inventoried objects as at 9,000 (with `only`, nothing walks the objects the apply did not see).
        removed = {ref for ref in delta if ref in self.refs}
        added = {ref for ref in delta if ref in claims and ref not in self.refs}
        kept = (self.refs - removed) | added if removed or added else self.refs
        rewritten: dict[ObjectRef, InventoryRecord] = {}
        for ref, claim in claims.items():
            prior = self.records.get(ref)
            if ref in kept and (claim.wrote or prior is None or prior.error is not None):
                adopted = claim.record.adopted or bool(prior and prior.error is None and prior.adopted)
                record = replace(claim.record, adopted=adopted)
                if record != prior:  # an equal record (recorded ahead of its create) changes nothing
                    rewritten[ref] = record
        touched = {ref for ref in removed if ref in self.records}
        stale: set[ObjectRef] = set()
        if not self._records_within():  # records of objects not in the inventory: drop them (once per inventory)
            stale = set(self.records.keys() - kept)
        touched |= stale | rewritten.keys()
        records: Mapping[ObjectRef, InventoryRecord] = self.records
        if touched:
            copied = dict(self.records)
            for ref in touched - rewritten.keys():
                del copied[ref]
            copied.update(rewritten)
            records = copied
        updated = Inventory(kept, None, self.revision, records)
        object.__setattr__(updated, "_within", True)
        object.__setattr__(updated, "changed_from", (self.records, frozenset(touched | removed | added)))
        if self._index is not None:
            object.__setattr__(updated, "_index", self._moved_index(self._index, records, touched))
        return updated

    def others(self, scope: Callable[[str], bool]) -> frozenset[ObjectRef]:
        """The objects recorded for tenants outside `scope` ("" for objects of no tenant): another writer's, with
        shards. They stay in an inventory this writer writes, with the record they have."""
        return self.others_among(self.refs, scope)

    def others_among(self, refs: Iterable[ObjectRef], scope: Callable[[str], bool]) -> frozenset[ObjectRef]:
        """`others(scope)` among `refs` only (a pass that planned a few tenants: their objects, not every one)."""
        return frozenset(
            r
            for r in refs
            if r in self.refs and not scope((rec.tenant if (rec := self.records.get(r)) else None) or "")
        )

    @classmethod
    def merged_within(cls, inventories: Iterable[Inventory], refs: Iterable[ObjectRef]) -> Inventory:
        """`merged(inventories)` as far as `refs` go: the same answers (`refs`, `owner_of`, `records`) about those
        objects, none about others, made by a lookup per object instead of copying every system's records."""
        inventories = list(inventories)
        kept: set[ObjectRef] = set()
        records: dict[ObjectRef, InventoryRecord] = {}
        for ref in refs:
            for inventory in inventories:
                if ref in inventory.refs:
                    kept.add(ref)
                if (record := inventory.records.get(ref)) is not None:
                    records[ref] = record
        version = next((i.version for i in inventories if i.version), None)
        revision = next((i.revision for i in inventories if i.revision), None)
        return cls(frozenset(kept), version, revision, records)

    @classmethod
    def merged(cls, inventories: Iterable[Inventory]) -> Inventory:
        """One inventory over several systems (refs name their system, so records never collide)."""
        refs: set[ObjectRef] = set()
        records: dict[ObjectRef, InventoryRecord] = {}
        version = revision = None
        for inventory in inventories:
            refs |= inventory.refs
            records.update(inventory.records)
            version = version or inventory.version
            revision = revision or inventory.revision
        return cls(frozenset(refs), version, revision, records)


def _keeps(prior: InventoryRecord | None, claim: Claim) -> bool:
    """Whether a claim leaves an object's record as it is: a no-op over a readable record (see `updated`)."""
    return not claim.wrote and prior is not None and prior.error is None


def _tenant_key(record: InventoryRecord | None) -> str:
    return (record.tenant if record is not None else None) or ""


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    allow_namespace_deletion: bool = False
    revision: str | None = None
    repo: str | None = None
    ranks: Mapping[str, int] = field(default_factory=dict)
    access: Container[tuple[str, str]] = frozenset()
    """(apiVersion, kind) of objects that give people access (RoleBindings, MLflow permissions): one removed from
    git is deleted even with prune off, as the person the change removed must not keep what it granted (the
    delete is authorized as a change of the spec mlcp's record attributes it to, like any other)."""
    editable: Callable[[str, str], EditableFields | None] = field(default=lambda api_version, kind: None)
    """(apiVersion, kind) → the fields its controller lets an update change (None: any). An update of another
    field is blocked here, naming them, rather than refused by the controller's webhook at apply after the
    spec's other objects were written (a Katib Experiment's tuning: rendering/katib.py)."""


def _pair(obj: DesiredObject, live: LiveObject | None) -> Change:
    common = {"ref": obj.ref, "spec": obj.spec, "tenant": obj.tenant, "source": obj.source, "rank": obj.rank}
    if live is None:
        return Change(action=Action.create, reason="not present", desired=obj.manifest, **common)  # type: ignore[arg-type]
    diffs = tuple(managed_diff(obj.manifest, live.manifest))
    if all(d.path == PROVENANCE for d in diffs):
        diffs = ()  # a new commit that left this object alone is not a reason to write it
    if diffs:
        fields = ", ".join(d.dotted for d in diffs[:3]) + (", …" if len(diffs) > 3 else "")
        return Change(
            action=Action.update,
            reason=f"{len(diffs)} managed field(s) differ: {fields}",
            diffs=diffs,
            desired=obj.manifest,
            live_version=live.version,
            **common,  # type: ignore[arg-type]
        )
    return Change(action=Action.noop, reason="up to date", desired=obj.manifest, live_version=live.version, **common)  # type: ignore[arg-type]


def _in_place(change: Change, options: PlanOptions) -> Change:
    """An update its controller would refuse, blocked with why (`PlanOptions.editable`)."""
    editable = options.editable(change.ref.api_version, change.ref.kind) if change.action is Action.update else None
    frozen = editable.frozen(change.diffs) if editable is not None else []
    if editable is None or not frozen:
        return change
    fields = ", ".join(d.dotted for d in frozen[:3]) + (", …" if len(frozen) > 3 else "")
    return replace(change, blocked=change.blocked or f"{fields} cannot change in place: {editable.why}")


def record_blocker(ref: ObjectRef, record: InventoryRecord | None) -> str | None:
    """Why mlcp's own record of an object forbids deleting it (None: the record does not)."""
    if record is not None and record.error is not None:
        return (
            f"mlcp's inventory record of {ref} is unreadable ({record.error}): nobody is attributed, so it is "
            "not deleted; repair the record or delete the object by hand"
        )
    if ref.kind != NAMESPACE or record is None:
        return None
    if record.adopted:
        return "the namespace existed before mlcp adopted it (adoptNamespace): mlcp never deletes it"
    if record.protected:
        return "the tenant has deletion protection; set deletionProtection: false first"
    return None


def _option_blocker(ref: ObjectRef, options: PlanOptions) -> str | None:
    if ref.kind == NAMESPACE and not options.allow_namespace_deletion:
        return "deleting a namespace needs --allow-namespace-deletion"
    if not options.prune and (ref.api_version, ref.kind) not in options.access:
        return "prune is off; pass --prune to delete objects removed from git"
    return None


def attributed(change: Change, record: InventoryRecord | None) -> Change:
    """A delete carrying the attribution of mlcp's record (none without a readable one) and its blocker.

    Used by the planner and again by a backend's review with the record it holds itself; applying it
    twice gives the same change.
    """
    usable = record if record is not None and record.error is None else None
    reason = "removed from git"
    if usable is None or usable.spec is None:
        reason += " (no record of the spec that applied it: only a rule over every kind and tenant may delete it)"
    return replace(
        change,
        reason=reason,
        spec=spec_key(usable.spec) if usable else None,
        tenant=usable.tenant if usable else None,
        source=usable.source if usable else None,
        blocked=record_blocker(change.ref, record) or change.blocked,
    )


def _orphan(live: LiveObject, inventory: Inventory, options: PlanOptions) -> Change:
    change = Change(
        ref=live.ref,
        action=Action.delete,
        reason="removed from git",
        spec=None,
        tenant=None,
        source=None,
        rank=options.ranks.get(live.ref.kind, RANK_OF_UNKNOWN),
        live_version=live.version,
        blocked=_option_blocker(live.ref, options),
    )
    return attributed(change, inventory.owner_of(live.ref))


def plan(
    desired: Iterable[DesiredObject],
    live: Mapping[ObjectRef, LiveObject],
    inventory: Inventory,
    options: PlanOptions,
    systems: Iterable[SystemStatus] = (),
) -> Plan:
    """Every create, update, delete and no-op needed to make `live` match `desired`."""
    changes: list[Change] = []
    wanted: set[ObjectRef] = set()
    for obj in desired:
        wanted.add(obj.ref)
        changes.append(_in_place(_pair(obj, live.get(obj.ref)), options))
    ignored = []
    for ref, found in live.items():
        if ref in wanted:
            continue
        if ref in inventory.refs:
            changes.append(_orphan(found, inventory, options))
        else:
            ignored.append(str(ref))
    changes.sort(key=lambda c: (c.rank if c.action is not Action.delete else -c.rank, c.ref))
    return Plan(
        changes=tuple(changes),
        revision=options.revision,
        repo=options.repo,
        systems=tuple(systems),
        prune=options.prune,
        inventory_version=inventory.version,
        meta={"ignoredUnowned": {"count": len(ignored), "first": sorted(ignored)[:20]}} if ignored else {},
    )
