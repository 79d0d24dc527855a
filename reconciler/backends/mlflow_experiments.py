"""Writing an experiment mlcp manages (its tags, a restore, a prune), only to the experiment whose id it recorded.

Between a plan and its apply a tenant may rename the experiment away and give its name to another; a saved plan
may be applied long after. So each write finds the experiment by name, as MLflow only offers, then checks it is
the one mlcp manages (mlflow_identity): the id mlcp recorded, or, for a take-over (no id recorded yet), exactly the
experiment the plan judged (its version, which covers its id). A take-over that went ahead is remembered
(`taken`) until the apply records it. Creating one is mlflow_creation's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from controlplane.inventory import InventoryRecord, TakenOver
from controlplane.plans import Action, Change, LiveObject, ObjectRef
from controlplane.rendering.mlflow_objects import (
    API_VERSION,
    DESCRIPTION_TAG,
    EXPERIMENT,
    MANAGED_TAGS_TAG,
    OWNER_TAG,
    OWNER_VALUE,
    SYSTEM,
)
from reconciler.backends import mlflow_identity
from reconciler.backends.base import ApplyOptions, Outcome, Status
from reconciler.backends.mlflow_creation import experiment_named, tags_of
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest

FIXED_AT_CREATION = ("artifactLocation",)


def live_experiment(item: dict[str, Any]) -> LiveObject:
    """An MLflow experiment as a live object; its version is a digest of everything mlcp manages, and of its id
    (another experiment given its name is another object, whatever its tags)."""
    tags = tags_of(item)
    description = tags.pop(DESCRIPTION_TAG, None)
    tags = {k: v for k, v in tags.items() if not k.startswith("mlflow.")}
    manifest: dict[str, Any] = {
        "name": item["name"],
        "lifecycleStage": item.get("lifecycle_stage", "active"),
        "tags": tags,
        "artifactLocation": item.get("artifact_location"),
        "experimentId": str(item["experiment_id"]),
    }
    if description is not None:
        manifest["description"] = description
    stage, experiment_id = manifest["lifecycleStage"], manifest["experimentId"]
    digest = json.dumps([item["name"], stage, description, sorted(tags.items()), experiment_id])
    ref = ObjectRef(SYSTEM, API_VERSION, EXPERIMENT, None, str(item["name"]))
    return LiveObject(ref, manifest, hashlib.sha256(digest.encode()).hexdigest()[:16])


def without_fixed_fields(change: Change) -> Change:
    """Drop differences in fields MLflow sets only at creation; an update left with none is a no-op."""
    diffs = tuple(d for d in change.diffs if d.path[0] not in FIXED_AT_CREATION)
    if len(diffs) == len(change.diffs):
        return change
    if diffs:
        return replace(change, diffs=diffs, reason=f"{len(diffs)} managed field(s) differ (artifactLocation is fixed)")
    return replace(change, action=Action.noop, diffs=(), reason="up to date (artifactLocation is fixed at creation)")


class ExperimentWrites:
    """Updates and prunes of mlcp's experiments on one server, each to the experiment mlcp manages under its name."""

    def __init__(self, rest: MlflowRest, records: Callable[[], Mapping[ObjectRef, InventoryRecord]]) -> None:
        self.rest = rest
        self.records = records
        """mlcp's records of this server (read first if they are not yet)."""
        self.by_id: Mapping[str, Mapping[str, Any]] = {}
        """mlcp's experiments as last read, by id: where a recorded one is now, for messages."""
        self.taken: dict[ObjectRef, TakenOver] = {}
        """Each experiment taken over since its record was last written: the id and location the apply found."""

    def _found(self, change: Change) -> tuple[dict[str, Any] | None, str | None]:
        """The experiment now named as `change.ref`, and why mlcp may not write it (None: it may)."""
        found = experiment_named(self.rest, change.ref.name)
        if found is None:
            return None, None
        record = self.records().get(change.ref)
        if mlflow_identity.recorded_id(record) is not None:
            return found, mlflow_identity.conflict(change.ref.name, record, found, self.by_id)
        if change.live_version is not None and live_experiment(found).version != change.live_version:
            return found, (
                f"experiment {change.ref.name!r} (id {found.get('experiment_id')}) is not as the plan found it, "
                "and mlcp has no record of which experiment it manages under that name: not taken over; the next "
                "plan judges it again"
            )
        return found, None

    def update(self, change: Change, options: ApplyOptions) -> Outcome:
        found, refused = self._found(change)
        if found is None:
            return Outcome(change, Status.failed, f"experiment {change.ref.name!r} vanished since the plan")
        if refused:
            return Outcome(change, Status.failed, refused)
        if tags_of(found).get(OWNER_TAG) != OWNER_VALUE:
            return Outcome(change, Status.failed, f"experiment {change.ref.name!r} is no longer tagged as mlcp's")
        if options.dry_run:
            return Outcome(change, Status.applied, "dry run")
        exp_id, notes = str(found["experiment_id"]), []
        location = found.get("artifact_location")
        if mlflow_identity.recorded_id(self.records().get(change.ref)) is None and isinstance(location, str):
            self.taken[change.ref] = TakenOver(exp_id, location)  # MLflow gives every experiment a location
            notes.append(f"took over experiment {exp_id}")
        if found.get("lifecycle_stage") == "deleted":
            self._restore(change.ref.name, exp_id)
            notes.append("restored")
        want = change.desired or {}
        live_tags = tags_of(found)
        wanted = {**want.get("tags", {}), **({DESCRIPTION_TAG: want["description"]} if "description" in want else {})}
        changed = {k: v for k, v in wanted.items() if live_tags.get(k) != v}
        for key, value in changed.items():
            self.rest.post("experiments/set-experiment-tag", experiment_id=exp_id, key=key, value=value)
        before = set(filter(None, live_tags.get(MANAGED_TAGS_TAG, "").split(",")))
        dropped = sorted(k for k in before - set(want.get("tags", {})) if k in live_tags)
        for key in dropped:
            try:
                self.rest.post("experiments/delete-experiment-tag", experiment_id=exp_id, key=key)
            except MlflowApiError as exc:  # gone already (a lost attempt's, or someone's): what was wanted
                if not exc.not_found:
                    raise
        notes += [f"{len(changed)} tag(s) set"] if changed else []
        notes += [f"removed tag(s) {', '.join(dropped)}"] if dropped else []
        return Outcome(change, Status.applied, "; ".join(notes))

    def _restore(self, name: str, exp_id: str) -> None:
        try:
            self.rest.post("experiments/restore", experiment_id=exp_id)
        except MlflowApiError as exc:  # "cannot restore an active experiment": a lost attempt restored it
            now = experiment_named(self.rest, name) or {}
            if not exc.after_lost_answer or now.get("lifecycle_stage") != "active":
                raise

    def delete(self, change: Change, options: ApplyOptions) -> Outcome:
        found = experiment_named(self.rest, change.ref.name)
        if found is None or found.get("lifecycle_stage") == "deleted":
            return Outcome(change, Status.deleted, "already gone")
        if tags_of(found).get(OWNER_TAG) != OWNER_VALUE:
            return Outcome(change, Status.skipped, f"not deleting {change.ref.name!r}: mlcp did not create it")
        swapped = mlflow_identity.conflict(change.ref.name, self.records().get(change.ref), found, self.by_id)
        if swapped:  # since the plan
            return Outcome(change, Status.skipped, swapped)
        if options.dry_run:
            return Outcome(change, Status.deleted, "dry run")
        try:
            self.rest.post("experiments/delete", experiment_id=str(found["experiment_id"]))
        except MlflowApiError as exc:  # refused as gone: a lost attempt deleted it
            if (
                not exc.after_lost_answer
                or (experiment_named(self.rest, change.ref.name) or {}).get("lifecycle_stage") != "deleted"
            ):
                raise
        return Outcome(change, Status.deleted, "soft-deleted (restorable in MLflow)")
