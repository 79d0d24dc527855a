"""Which live experiment is the one mlcp manages under a name: the one whose id mlcp recorded, never the name alone.

MLflow experiment names are tenant-writable: anyone with EDIT renames an
experiment, and anyone may create one under a free name, at a location of her
choosing, where she holds MANAGE. Matching by name alone, an experiment renamed
away and replaced by another under its name was taken for the managed one:
mlcp granted the tenant's people on it (their runs then flow to an object
someone else owns and keeps after leaving), planned updates and prunes on it.

So mlcp records the id of every experiment it manages (`made` at its create,
mlflow_creation; `taken` at its take-over, recorded by the apply that took it
over), and from then on:

- an experiment under the recorded name with another id is a conflict: every
  change of it, and of the grants on it, is blocked, saying what was found,
  what mlcp recorded and where that one is now, and how to fix it; nothing of it
  is granted, updated, pruned or served from (reconciler/servedhomes.py counts
  only `made`, by id);
- the recorded experiment soft-deleted keeps its name (MLflow frees a name only
  at a rename or a purge): it is the managed one, and the apply restores it;
- the recorded experiment renamed away, the name free: still the managed one.
  Its grants stay on it, found by the recorded id whatever its name and tags
  (`recorded_experiments`, `grant_places`), so a member removed from the tenant
  loses his grant there; and no new experiment is made under the name, which
  would leave the tenant's, with every grant on it, beyond mlcp's reach (a
  member who renamed it away kept his grant after his removal): the create is
  blocked until someone renames it back (`renamed_away`);
- a record without an id (an older mlcp's, or a create whose location could not
  be read back) does not vouch for the live experiment: it is judged as a
  take-over again (mlflow_adoption) and the apply records the id it takes
  over; a no-op becomes an update for that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from controlplane.inventory import InventoryRecord
from controlplane.plans import Action, Change, ObjectRef
from controlplane.rendering.mlflow_objects import API_VERSION, EXPERIMENT, SYSTEM
from controlplane.rendering.mlflow_permissions import EXPERIMENT_PERMISSION, GrantRef

Experiments = Mapping[str, Mapping[str, Any]]
"""MLflow's experiments (as searched) by name, or by id."""


def recorded_id(record: InventoryRecord | None) -> str | None:
    """The id of the experiment mlcp recorded managing (None: none recorded, or the record is unreadable)."""
    return record.identity if record is not None and record.error is None else None


def conflict(
    name: str, record: InventoryRecord | None, live: Mapping[str, Any] | None, by_id: Experiments
) -> str | None:
    """Why `live`, the experiment named `name` now, is not the one mlcp manages under that name (None: it is, or
    mlcp recorded none, or nothing holds the name)."""
    expected = recorded_id(record)
    if record is None or expected is None or live is None or str(live.get("experiment_id")) == expected:
        return None
    found = str(live.get("experiment_id"))
    how = "created" if record.made is not None else "took over"
    return (
        f"experiment {name!r} is now id {found} (at {live.get('artifact_location')!r}), not experiment {expected} "
        f"that mlcp {how} under this name ({_whereabouts(expected, by_id)}): a name passes to whoever takes it, so "
        f"mlcp grants nothing on experiment {found}, never updates, prunes or serves from it. To fix: rename "
        f"experiment {found} away, then rename experiment {expected} back to {name!r} (restore it first if it is "
        f"deleted); if experiment {expected} is gone for good, renaming {found} away is enough: mlcp creates a new "
        "experiment under the name at the next apply"
    )


def renamed_away(name: str, record: InventoryRecord | None, by_id: Experiments) -> str | None:
    """Why no experiment is created under `name` while the one mlcp recorded under it exists under another name
    (None: no id recorded, or that experiment is gone)."""
    expected = recorded_id(record)
    found = by_id.get(expected) if record is not None and expected is not None else None
    if record is None or found is None or str(found.get("name")) == name:
        return None
    how = "created" if record.made is not None else "took over"
    return (
        f"experiment {expected}, which mlcp {how} as {name!r}, is now named {found.get('name')!r}: it is still the "
        "tenant's (its grants follow it, whatever its name), so mlcp makes no other under the name. To fix: rename "
        f"experiment {expected} back to {name!r} (MLflow's UI, or `experiments/update`)"
    )


def recorded_experiments(
    records: Mapping[ObjectRef, InventoryRecord], by_id: Experiments, get: Callable[[str], Mapping[str, Any] | None]
) -> dict[str, Mapping[str, Any]]:
    """Each experiment mlcp recorded that still exists, by id, wherever it is now and whatever its tags: those
    among mlcp's tagged experiments (`by_id`), and the others asked for by id (`get`; None: gone)."""
    out: dict[str, Mapping[str, Any]] = {}
    for ref, record in records.items():
        expected = recorded_id(record) if ref.kind == EXPERIMENT else None
        found = None if expected is None else by_id.get(expected) or get(expected)
        if expected is not None and found is not None:
            out[expected] = found
    return out


def grant_places(
    records: Mapping[ObjectRef, InventoryRecord], by_name: Experiments, recorded: Experiments
) -> dict[str, str]:
    """Experiment name (as grants name it) → the id of the experiment its grants are on: the one mlcp recorded
    under that name while it exists, whatever it is named now; otherwise whichever holds the name."""
    places = {name: str(found["experiment_id"]) for name, found in by_name.items()}
    for ref, record in records.items():
        expected = recorded_id(record) if ref.kind == EXPERIMENT else None
        if expected is not None and expected in recorded:
            places[ref.name] = expected
    return places


def tagged_grant_places(
    records: Mapping[ObjectRef, InventoryRecord], experiments: Sequence[dict[str, Any]], by_id: Experiments
) -> list[tuple[str, dict[str, Any]]]:
    """mlcp's tagged experiments, each under the name its grants are known by: a recorded one under the name mlcp
    recorded it as, whatever it is named now; one holding a recorded name that is not the recorded one, left out
    (nothing is granted there, and its grant tags, copied or not, are not the tenant's)."""
    names = {
        expected: ref.name
        for ref, record in records.items()
        if ref.kind == EXPERIMENT and (expected := recorded_id(record)) is not None
    }
    out = []
    for found in experiments:
        name = str(found["name"])
        record = records.get(ObjectRef(SYSTEM, API_VERSION, EXPERIMENT, None, name))
        if conflict(name, record, found, by_id) is None:
            out.append((names.get(str(found["experiment_id"]), name), found))
    return out


def _whereabouts(experiment_id: str, by_id: Experiments) -> str:
    found = by_id.get(experiment_id)
    if found is None:
        return "not among the experiments tagged as mlcp's: untagged, or purged"
    deleted = ", deleted" if found.get("lifecycle_stage") == "deleted" else ""
    return f"now named {found.get('name')!r}{deleted}"


def experiment_of(ref: ObjectRef) -> ObjectRef | None:
    """The experiment a change is about: the experiment itself, or the one a grant is on (None: neither)."""
    if ref.kind == EXPERIMENT:
        return ref
    if ref.kind == EXPERIMENT_PERMISSION:
        return GrantRef.of(ref).experiment()
    return None


def review(
    changes: Sequence[Change],
    records: Mapping[ObjectRef, InventoryRecord],
    by_name: Experiments,
    by_id: Experiments,
) -> list[Change]:
    """`changes` with every change of an experiment that is not the recorded one (and of grants on it) blocked,
    and each take-over of a live experiment (no id recorded yet) an update, so the apply records its id."""
    out = []
    for change in changes:
        experiment = experiment_of(change.ref)
        if experiment is None or change.blocked:
            out.append(change)
            continue
        name = experiment.name
        why = conflict(name, records.get(experiment), by_name.get(name), by_id)
        if why is None and change.ref.kind == EXPERIMENT and change.action is Action.create:
            why = renamed_away(name, records.get(experiment), by_id)
        if why and change.ref.kind != EXPERIMENT:
            why = f"not granted on experiment {name!r}: {why}"
        if why:
            out.append(_blocked(change, why))
        elif change.ref.kind == EXPERIMENT and change.action is Action.noop and name in by_name:
            out.append(_taking_over(change, records.get(change.ref), by_name[name]))
        else:
            out.append(change)
    return out


def _taking_over(change: Change, record: InventoryRecord | None, live: Mapping[str, Any]) -> Change:
    """A no-op of a live experiment whose id mlcp has not recorded, made an update that records it."""
    if recorded_id(record) is not None:
        return change
    found = live.get("experiment_id")
    return replace(
        change,
        action=Action.update,
        reason=f"mlcp takes over experiment {found}: records its id, so no other experiment given its name later is "
        "taken for it",
    )


def _blocked(change: Change, why: str) -> Change:
    return replace(change, action=Action.update if change.action is Action.noop else change.action, blocked=why)
