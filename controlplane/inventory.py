"""mlcp's inventory: the objects it applied, and for each the record of whose it is.

What mlcp may delete, and who a delete belongs to (its spec, tenant and source
file, which decide the rule that may authorize it), come only from these
records, written by mlcp when it last applied an object, never from the live
object, whose labels and annotations whoever can edit the object can rewrite.
A record read back from storage is checked (`InventoryRecord.checked`): values
mlcp would not write make an unreadable record, which attributes nothing.
Kept apart from the planner, which reads it, and the backends, which store it
(each its own way) and update it after an apply (`Inventory.updated`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controlplane.labels import ADOPTED_ANNOTATION, PROTECTION_ANNOTATION
from controlplane.plans import Change, ObjectRef, spec_text

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
class Made:
    """An object mlcp itself created, as its system reported it right after: its id and where it keeps its files.

    Recorded only by the apply whose create made it (an MLflow experiment), never for one mlcp adopted (found,
    tagged, made by someone else at a location of their choosing): what an object's location is trusted for (the
    files a promotion may serve, reconciler/servedhomes.py) comes from this record, not from the live object's
    tags, name or location, which others chose.
    """

    id: str
    """The id the system gave the object (a name can be taken over; an id is never given twice)."""
    location: str
    """Its artifact location, as the system reported it after the create."""


@dataclass(frozen=True, slots=True)
class TakenOver:
    """An object mlcp took over (adopted) rather than created: its id and location when the apply took it over.

    A name is not an identity: a tenant may rename the object away and give its name to another (hers, at a place
    of her choosing). From the take-over on, the managed object is the one with this id; another under its name is
    a conflict, never granted on, served from or pruned. Unlike `Made`, it lends its location nothing.
    """

    id: str
    """The id the system gave the object (never given twice)."""
    location: str
    """Its artifact location when mlcp took it over (someone else chose it)."""


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
    made: Made | None = None
    """The object as mlcp created it, where its backend records that (None: adopted, or recorded before it was)."""
    taken: TakenOver | None = None
    """The object mlcp took over (adopted), where its backend records that (None: created, or recorded before)."""
    model: str | None = None
    """The registered model a model alias or grant is on, by its creation time (MLflow gives a model no id, and its
    name passes to whoever renames another into it): recorded by the apply that wrote it (None: recorded before)."""

    @property
    def identity(self) -> str | None:
        """The id of the object this record is of (None: not recorded; the live object's name is no proof)."""
        return self.made.id if self.made is not None else self.taken.id if self.taken is not None else None

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
        fills a record that is missing or unreadable. Adoption is never forgotten, nor which object mlcp created or
        took over (`made`, `taken`: a later write's claim does not know them; one that does replaces both).

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
                readable = prior is not None and prior.error is None
                adopted = claim.record.adopted or bool(readable and prior and prior.adopted)
                made, taken, model = claim.record.made, claim.record.taken, claim.record.model
                if made is None and taken is None and readable and prior:  # a later write does not know them
                    made, taken = prior.made, prior.taken
                if model is None and readable and prior:
                    model = prior.model
                record = replace(claim.record, adopted=adopted, made=made, taken=taken, model=model)
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
