"""The experiment mlcp manages under a name is the one whose id it recorded: adopted ones too, not just those it made.

Carol (EDIT on vision's adopted experiment, as a member lent to vision) renames it away and creates her own under
its name, tagged as mlcp's, at a place of her choosing, where she holds MANAGE. Matched by name, hers was taken for
vision's: its grants, updates and prune went to her experiment. The in-memory MLflow renames by hand here;
tests/integration/attacks/test_renamed_adopted_experiment.py runs the attack against a real basic-auth server.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from controlplane.inventory import Claim, Inventory, InventoryRecord, Made, TakenOver
from controlplane.plans import Action, Change, ObjectRef, SpecKey
from reconciler.backends import mlflow_identity
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_experiments import live_experiment
from reconciler.backends.mlflow_inventory import parse, record_tag, store_name
from tests.reconciler.backends.lossy_mlflow import LossyMlflow

EXP = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "vision/exp")
GRANT = ObjectRef("mlflow", "mlflow/v1", "ExperimentPermission", None, "vision/exp#bob")
SPEC = SpecKey.parse("Experiment/vision/exp")
TAGS = {"mlcp.dev/managed-by": "mlcp", "mlcp.dev/tenant": "vision", "mlcp.dev/spec": "Experiment/vision/exp"}
RECORD = InventoryRecord("Experiment/vision/exp", "vision", "e.yaml")
STORE = store_name("mlcp-system")


def _change(action: Action, live: str | None) -> Change:
    desired: dict[str, Any] = {"name": EXP.name, "tags": TAGS}
    return Change(EXP, action, "paired", SPEC, "vision", "e.yaml", 60, desired=desired, live_version=live)


def _grant(action: Action = Action.create) -> Change:
    desired = {"experiment": EXP.name, "user": "bob", "permission": "EDIT"}
    return Change(GRANT, action, "paired", None, "vision", None, 70, desired=desired, live_version=None)


def _adopted() -> tuple[LossyMlflow, dict[str, Any]]:
    """vision's experiment, made by hand (tagged) and adopted by an apply that recorded it."""
    rest = LossyMlflow()
    found = rest.add(EXP.name, dict(TAGS), location="s3://vision-data/exp")
    backend = MlflowBackend(rest)
    backend.read()
    [adopt] = backend.review([_change(Action.noop, live_experiment(found).version)])
    assert adopt.action is Action.update and "mlcp takes over experiment 1" in adopt.reason, "a no-op records nothing"
    assert backend.apply(adopt, ApplyOptions()).status is Status.applied
    backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(InventoryRecord.of(adopt), True)}))
    assert backend.store.records[EXP].taken == TakenOver("1", "s3://vision-data/exp")
    return rest, found


def _carols(rest: LossyMlflow) -> dict[str, Any]:
    """Carol renames vision's away and makes hers under its name, tagged, at her place."""
    vision = rest.experiments.pop(EXP.name)
    rest.experiments["vision/old"] = {**vision, "name": "vision/old"}
    return rest.add(EXP.name, dict(TAGS), location="s3://carol/loot")


def test_an_adopted_experiment_is_recorded_by_id_and_read_back_strictly() -> None:
    rest, _ = _adopted()
    backend = MlflowBackend(rest)
    backend.read()
    assert backend.store.records[EXP].taken == TakenOver("1", "s3://vision-data/exp")
    assert backend.store.records[EXP].made is None, "taken over: it lends vision no location"
    base = {"kind": "Experiment", "name": EXP.name, "spec": "Experiment/vision/exp", "tenant": "vision", "source": "e"}
    both = {**base, "made": {"id": "1", "location": "s3://a"}, "taken": {"id": "1", "location": "s3://a"}}
    for bad in ({**base, "taken": {"id": "x", "location": "s3://a"}}, {**base, "taken": ["1"]}, both):
        parsed = parse(record_tag(EXP), json.dumps(bad))
        assert parsed is not None and parsed[1].error is not None and parsed[1].identity is None, bad


def test_another_experiment_given_the_adopted_ones_name_is_a_conflict_never_granted_updated_or_pruned() -> None:
    rest, _ = _adopted()
    carols = _carols(rest)
    backend = MlflowBackend(rest)
    backend.read()
    version = live_experiment(carols).version
    changes = [_change(Action.noop, version), _change(Action.update, version), _grant(), _grant(Action.delete)]
    delete = Change(EXP, Action.delete, "removed from git", None, None, None, 60, live_version=version)
    for reviewed in backend.review([*changes, delete]):
        assert reviewed.blocked is not None, reviewed
        assert f"experiment {EXP.name!r} is now id 3 (at 's3://carol/loot'), not experiment 1" in reviewed.blocked
        assert "mlcp took over under this name (now named 'vision/old')" in reviewed.blocked
        assert "rename experiment 3 away, then rename experiment 1 back" in reviewed.blocked
        assert reviewed.action is not Action.noop, "a blocked no-op would be recorded"
    # a plan made before Carol's swap, applied after it
    stale = backend.apply(_change(Action.update, "before"), ApplyOptions())
    assert stale.status is Status.failed and "not experiment 1" in stale.message
    assert backend.apply(delete, ApplyOptions()).status is Status.skipped
    granted = backend.apply(_grant(), ApplyOptions())  # a grant follows the recorded id, never the name
    assert granted.status is Status.applied, granted.message
    assert rest.grants == {("bob", "experiment", "1"): "EDIT"}, "on vision's (now 'vision/old'), not on Carol's"
    assert carols["lifecycle_stage"] == "active" and rest.tags(EXP.name) == TAGS, "nothing written on Carol's"


def test_the_recorded_experiment_soft_deleted_keeps_its_name_and_is_restored() -> None:
    rest, found = _adopted()
    found["lifecycle_stage"] = "deleted"
    backend = MlflowBackend(rest)
    backend.read()
    [restore] = backend.review([_change(Action.update, live_experiment(found).version)])
    assert restore.blocked is None
    outcome = backend.apply(restore, ApplyOptions())
    assert outcome.status is Status.applied and outcome.message == "restored", outcome.message
    assert found["lifecycle_stage"] == "active"


def test_the_recorded_experiment_renamed_away_keeps_its_grants_and_no_other_is_made_under_its_name() -> None:
    rest, _ = _adopted()
    backend = MlflowBackend(rest)
    backend.read()
    assert backend.apply(_grant(), ApplyOptions()).status is Status.applied
    backend.record_inventory(
        frozenset({EXP, GRANT}), ApplyOptions(claims={GRANT: Claim(InventoryRecord.of(_grant()), True)})
    )
    vision = rest.experiments.pop(EXP.name)  # bob renames it away, and drops mlcp's tag from it too
    rest.experiments["vision/old"] = {**vision, "name": "vision/old", "tags": []}
    backend = MlflowBackend(rest)
    backend.read()
    assert backend.permissions.experiment_ids[EXP.name] == "1", "grants on it are read where it is, by its id"
    [create] = backend.review([_change(Action.create, None)])
    assert create.blocked is not None and "experiment 1, which mlcp took over as 'vision/exp'" in create.blocked
    assert "is now named 'vision/old'" in create.blocked and "rename experiment 1 back" in create.blocked
    removed = Change(GRANT, Action.delete, "removed from git", None, "vision", None, 70, live_version="EDIT")
    [revoke] = backend.review([removed])
    assert revoke.blocked is None
    assert backend.apply(revoke, ApplyOptions()).status is Status.deleted
    assert rest.grants == {}, "revoked on experiment 1, whatever its name now"
    assert "vision/exp" not in rest.experiments, "no other experiment made under the name"


def test_a_record_an_older_mlcp_wrote_without_an_id_is_a_take_over_again_and_records_the_id() -> None:
    rest = LossyMlflow()
    found = rest.add(EXP.name, dict(TAGS), location="s3://vision-data/exp")
    old = {"kind": "Experiment", "name": EXP.name, "spec": "Experiment/vision/exp", "tenant": "vision", "source": "e"}
    stored = json.dumps(old, sort_keys=True, separators=(",", ":"))
    rest.add(STORE, {"mlcp.dev/role": "inventory", "mlcp.dev/managed-by": "mlcp", record_tag(EXP): stored})
    backend = MlflowBackend(rest)
    backend.read()
    [noop] = backend.review([_change(Action.noop, live_experiment(found).version)])
    assert noop.action is Action.update and noop.blocked is None, "judged as a take-over (nobody else holds grants)"
    assert backend.apply(noop, ApplyOptions()).status is Status.applied
    backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(InventoryRecord.of(noop), True)}))
    assert backend.store.records[EXP].taken == TakenOver("1", "s3://vision-data/exp")


def test_a_take_over_swapped_between_plan_and_apply_is_not_taken_over() -> None:
    rest = LossyMlflow()
    found = rest.add(EXP.name, dict(TAGS), location="s3://vision-data/exp")
    backend = MlflowBackend(rest)
    backend.read()
    [adopt] = backend.review([_change(Action.noop, live_experiment(found).version)])
    _carols(rest)
    outcome = backend.apply(adopt, ApplyOptions())
    assert outcome.status is Status.failed and "is not as the plan found it" in outcome.message
    assert not backend.writes.taken, "nothing to record"


def test_a_later_write_keeps_the_recorded_id_and_a_create_replaces_it() -> None:
    taken = replace(RECORD, taken=TakenOver("1", "s3://a"))
    inventory = Inventory(frozenset({EXP}), records={EXP: taken})
    later = inventory.updated({EXP}, {EXP: Claim(RECORD, wrote=True)})
    assert later.records[EXP].taken == TakenOver("1", "s3://a")
    made = inventory.updated({EXP}, {EXP: Claim(replace(RECORD, made=Made("2", "s3://b/2")), wrote=True)})
    assert made.records[EXP].made == Made("2", "s3://b/2") and made.records[EXP].taken is None


def test_the_conflict_is_judged_by_id_alone() -> None:
    record = replace(RECORD, taken=TakenOver("1", "s3://a"))
    same = {"experiment_id": "1", "name": EXP.name, "artifact_location": "s3://elsewhere"}
    assert mlflow_identity.conflict(EXP.name, record, same, {}) is None, "the location is not the identity"
    other = {**same, "experiment_id": "9"}
    assert mlflow_identity.conflict(EXP.name, RECORD, other, {}) is None, "no id recorded: judged as a take-over"
    why = mlflow_identity.conflict(EXP.name, record, other, {})
    assert why is not None and "not among the experiments tagged as mlcp's: untagged, or purged" in why
