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

from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field, replace

from controlplane.diffing import managed_diff
from controlplane.inventory import NAMESPACE, Inventory, InventoryRecord
from controlplane.labels import COMMIT_ANNOTATION
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
)

RANK_OF_UNKNOWN = 100
PROVENANCE = ("metadata", "annotations", COMMIT_ANNOTATION)


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
    declared_rank: Callable[[str, str, str], int | None] = field(default=lambda spec_kind, api_version, kind: None)
    """(spec kind, apiVersion, kind) → the rank that spec kind declared for such objects (None: it declared none).
    A delete mlcp's record attributes is ranked by it, not by the lowest rank any kind declared for the object's
    kind (`ranks`): a notebook's Role (56) is deleted before the tenant's RoleBindings (31) that let the deployer
    delete it, not after them at the Tenant's rank for Roles (30), which a namespace move pruning both refused."""


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
    change = attributed(change, inventory.owner_of(live.ref))
    declared = options.declared_rank(change.spec.kind, live.ref.api_version, live.ref.kind) if change.spec else None
    return change if declared is None else replace(change, rank=declared)


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
