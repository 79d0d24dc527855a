"""Creating an experiment, and remembering that mlcp made it: the id and artifact location MLflow gave it.

mlcp also takes over experiments it did not make (found, tagged, made by someone else at a location of their
choosing: mlflow_adoption). Which files a promotion may serve (reconciler/servedhomes.py) must not be lent by
such an experiment, nor be taken from another tenant's by one made at a parent of its location. So whether mlcp
created an experiment is a fact mlcp records itself, here, at the create that made it (`Made`, written to mlcp's
record by the apply, mlflow_inventory), never inferred from the live experiment's tags, name or location.

A create whose answer was lost and whose retry finds the name taken by an experiment with exactly the tags mlcp
sent is taken as mlcp's own (as before), but it is recorded as made only when its location is the one mlcp
asked for, or, when mlcp asked for none, the one MLflow gives an experiment of its own (`<default root>/<its
id>`): someone racing the lost answer with the same tags at another place is never recorded as mlcp's creation.
"""

from __future__ import annotations

from typing import Any

from controlplane.inventory import Made
from controlplane.plans import Change, ObjectRef
from controlplane.rendering.mlflow_objects import DESCRIPTION_TAG, OWNER_TAG, OWNER_VALUE
from reconciler.backends.base import ApplyOptions, BackendError, Outcome, Status
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in item.get("tags") or []}


def experiment_named(rest: MlflowRest, name: str) -> dict[str, Any] | None:
    """The experiment of that name, active or deleted (None: there is none)."""
    try:
        found: dict[str, Any] = rest.get("experiments/get-by-name", experiment_name=name)["experiment"]
    except MlflowApiError as exc:
        if exc.not_found:
            return None
        raise
    return found


class Creations:
    """The experiments this process created, until the apply records them (`claimed`)."""

    def __init__(self, rest: MlflowRest) -> None:
        self.rest = rest
        self.made: dict[ObjectRef, Made] = {}
        """Each experiment created since its record was last written, as MLflow reported it after the create."""

    def create(self, change: Change, options: ApplyOptions) -> Outcome:
        want = change.desired or {}
        tags = dict(want.get("tags") or {})
        if "description" in want:
            tags[DESCRIPTION_TAG] = want["description"]
        body: dict[str, Any] = {"name": want["name"], "tags": [{"key": k, "value": v} for k, v in tags.items()]}
        asked = want.get("artifactLocation") or None
        if asked:
            body["artifact_location"] = asked
        if options.dry_run:
            return Outcome(change, Status.applied, "dry run")
        try:
            created = self.rest.post("experiments/create", **body)
        except MlflowApiError as exc:
            if exc.code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self._already_exists(change, tags, asked, exc.after_lost_answer)
        experiment_id = str(created.get("experiment_id"))
        note = self._remember(change.ref, experiment_id)
        return Outcome(change, Status.applied, f"created experiment {experiment_id}{note}")

    def _remember(self, ref: ObjectRef, experiment_id: str) -> str:
        """Read back where MLflow put the experiment mlcp just made and keep it for the record; a note when that
        could not be read (the experiment then lends its tenant nothing beyond its roots)."""
        try:
            found = self.rest.get("experiments/get", experiment_id=experiment_id).get("experiment") or {}
        except BackendError as exc:
            return f" (its artifact location could not be read back, {exc}: it lends the tenant no location)"
        location = found.get("artifact_location")
        if isinstance(location, str) and location:
            self.made[ref] = Made(experiment_id, location)
            return ""
        return " (MLflow reported no artifact location: it lends the tenant no location)"

    def _already_exists(self, change: Change, sent: dict[str, str], asked: str | None, lost: bool) -> Outcome:
        """A create refused because the name is taken: by mlcp's own create whose answer was lost (`lost`: the
        refusal answered a retry), by an experiment tagged for mlcp to adopt, or by someone else's."""
        name = str((change.desired or {})["name"])
        found = experiment_named(self.rest, name)
        tags = tags_of(found) if found is not None else {}
        if found is not None and found.get("lifecycle_stage") == "active" and tags.get(OWNER_TAG) == OWNER_VALUE:
            exp_id = str(found.get("experiment_id"))
            if lost and all(tags.get(k) == v for k, v in sent.items()):
                location = found.get("artifact_location")
                if isinstance(location, str) and _as_made(location, exp_id, asked):
                    self.made[change.ref] = Made(exp_id, location)
                return Outcome(change, Status.applied, f"created experiment {exp_id} (its answer was lost; found)")
            return Outcome(  # taking it over is judged by a plan (mlflow_adoption): who holds grants on it
                change,
                Status.failed,
                f"experiment {exp_id} named {name!r} appeared since the plan, tagged {OWNER_TAG}, made by someone "
                "else: not taken over at apply; the next plan judges whether mlcp may adopt it",
            )
        if lost:
            return Outcome(
                change,
                Status.failed,
                f"creating experiment {name!r} got no answer, and its retry found the name taken by an experiment "
                "without mlcp's tags: the first attempt may have made it and someone changed it since, or someone "
                "made it at the same moment; the next plan reads it",
                uncertain=True,
            )
        return Outcome(
            change,
            Status.failed,
            f"an experiment named {name!r} already exists and mlcp did not create it (no tag "
            f"{OWNER_TAG}={OWNER_VALUE}); tag it to let mlcp adopt it, or choose another name",
        )


def _as_made(location: str, experiment_id: str, asked: str | None) -> bool:
    """Whether `location` is where mlcp's own create would have put experiment `experiment_id`: the location it
    asked for, or (none asked) MLflow's `<default root>/<id>`."""
    if asked:
        return location == asked
    return location.rstrip("/").rpartition("/")[2] == experiment_id
