"""Planning: pair desired objects with live ones and decide, per object, what apply must do.

Pure: desired objects, live objects and mlcp's inventory in, a `Plan` out. An
object is only ever planned for deletion when mlcp's own inventory records it
as applied by mlcp AND it still carries mlcp's labels (it was found by label
selector): a label copied onto someone else's object never makes it prunable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from controlplane.diffing import managed_diff
from controlplane.labels import COMMIT_ANNOTATION, PROTECTION_ANNOTATION, SOURCE_ANNOTATION, SPEC_LABEL, TENANT_LABEL
from controlplane.plans import Action, Change, DesiredObject, LiveObject, ObjectRef, Plan, SystemStatus

RANK_OF_UNKNOWN = 100
PROVENANCE = ("metadata", "annotations", COMMIT_ANNOTATION)


@dataclass(frozen=True)
class Inventory:
    """The objects mlcp has applied, as recorded in the target system by mlcp itself."""

    refs: frozenset[ObjectRef] = frozenset()
    version: str | None = None
    revision: str | None = None
    """The config repo revision last applied (the base from which authorship is judged)."""


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    allow_namespace_deletion: bool = False
    revision: str | None = None
    repo: str | None = None
    ranks: Mapping[str, int] = field(default_factory=dict)


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


def _delete_blocker(live: LiveObject, options: PlanOptions) -> str | None:
    if live.ref.kind == "Namespace":
        annotations = live.manifest.get("metadata", {}).get("annotations") or {}
        if annotations.get(PROTECTION_ANNOTATION) == "true":
            return "the tenant has deletion protection; set deletionProtection: false first"
        if not options.allow_namespace_deletion:
            return "deleting a namespace needs --allow-namespace-deletion"
    if not options.prune:
        return "prune is off; pass --prune to delete objects removed from git"
    return None


def _orphan(live: LiveObject, options: PlanOptions) -> Change:
    labels = live.manifest.get("metadata", {}).get("labels") or {}
    annotations = live.manifest.get("metadata", {}).get("annotations") or {}
    kind, _, name = str(labels.get(SPEC_LABEL, "")).partition(".")
    tenant = labels.get(TENANT_LABEL)
    spec = f"{kind}/{tenant}/{name}" if kind and tenant else (f"{kind}/{name}" if kind else None)
    return Change(
        ref=live.ref,
        action=Action.delete,
        reason="removed from git",
        spec=spec,
        tenant=labels.get(TENANT_LABEL),
        source=annotations.get(SOURCE_ANNOTATION),
        rank=options.ranks.get(live.ref.kind, RANK_OF_UNKNOWN),
        live_version=live.version,
        blocked=_delete_blocker(live, options),
    )


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
        changes.append(_pair(obj, live.get(obj.ref)))
    ignored = []
    for ref, found in live.items():
        if ref in wanted:
            continue
        if ref in inventory.refs:
            changes.append(_orphan(found, options))
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
