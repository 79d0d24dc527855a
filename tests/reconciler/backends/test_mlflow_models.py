"""Which registered model mlcp manages under a name: the one whose creation time it recorded, never the name alone.

Bob, an `edit` member, renames vision's model away (MLflow moves every grant with it) and Mallory registers her own
under the freed name: the plan must grant nothing on hers and move none of its aliases, and revoke Bob's grant
where vision's model is now (tests/integration/attacks/test_renamed_away_model.py does it against a real server).
"""

from __future__ import annotations

import json
from typing import Any

from controlplane.inventory import Claim, Inventory, InventoryRecord
from controlplane.plans import Action, Change, ObjectRef
from reconciler.backends import mlflow_models
from reconciler.backends.mlflow_inventory import _value, parse, record_tag
from reconciler.backends.mlflow_models import Places

ALIAS = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "vision-detector@production")
GRANT = ObjectRef("mlflow", "mlflow/v1", "RegisteredModelPermission", None, "vision-detector#bob")
VISIONS, MALLORYS = "1700000000000", "1700000099999"


def _record(model: str | None = VISIONS) -> InventoryRecord:
    return InventoryRecord("ModelPromotion/vision/prod", "vision", "p.yaml", model=model)


def _models(**names: str) -> list[dict[str, Any]]:
    return [{"name": name.replace("_", "-"), "creation_timestamp": int(when)} for name, when in names.items()]


def _change(ref: ObjectRef, action: Action = Action.update) -> Change:
    return Change(ref, action, "paired", None, "vision", "p.yaml", 65, desired={}, fallback=None)


def test_the_model_holding_its_recorded_name_is_the_managed_one() -> None:
    places = Places.of({ALIAS: _record()}, _models(vision_detector=VISIONS))
    assert places.refusal("vision-detector") is None and places.place("vision-detector") == "vision-detector"
    assert places.governed("vision-detector", legacy=False) and places.identity("vision-detector") == VISIONS
    [kept] = mlflow_models.review([_change(ALIAS)], places)
    assert kept.blocked is None


def test_renamed_away_its_grants_follow_it_and_its_aliases_wait_for_it_to_be_renamed_back() -> None:
    places = Places.of({ALIAS: _record(), GRANT: _record()}, _models(bobs_detector=VISIONS))
    assert places.place("vision-detector") == "bobs-detector", "a revoke reaches the model where it is"
    assert places.known_as("bobs-detector") == "vision-detector", "its grant tags count under the recorded name"
    alias, revoke, grant = mlflow_models.review(
        [_change(ALIAS), _change(GRANT, Action.delete), _change(GRANT, Action.create)], places
    )
    assert alias.blocked is not None and "is now named 'bobs-detector'" in alias.blocked
    assert "rename 'bobs-detector' back to 'vision-detector'" in alias.blocked
    assert revoke.blocked is None and grant.blocked is None


def test_another_model_under_the_name_is_granted_nothing_and_none_of_its_aliases_move() -> None:
    places = Places.of({ALIAS: _record(), GRANT: _record()}, _models(bobs_detector=VISIONS, vision_detector=MALLORYS))
    assert places.place("vision-detector") == "bobs-detector"
    assert places.known_as("vision-detector") is None, "her grant tags are not vision's"
    assert not places.governed("vision-detector", legacy=True)
    fallback = _change(ALIAS)
    noop, grant, revoke = mlflow_models.review(
        [
            Change(ALIAS, Action.noop, "", None, "vision", "p.yaml", 65, desired={}, fallback=fallback),
            _change(GRANT, Action.create),
            _change(GRANT, Action.delete),
        ],
        places,
    )
    assert noop.action is Action.update and noop.fallback is None, "no move back on her model either"
    assert (
        noop.blocked is not None
        and f"created {MALLORYS}" in noop.blocked
        and "not the one mlcp manages" in noop.blocked
    )
    assert grant.blocked is not None and grant.blocked.startswith("not granted on registered model 'vision-detector'")
    assert revoke.blocked is None, "a revoke is never held back"


def test_with_the_recorded_model_gone_a_new_one_is_a_take_over_and_an_older_record_decides_by_name() -> None:
    gone = Places.of({ALIAS: _record()}, _models(vision_detector=MALLORYS))
    assert gone.refusal("vision-detector") is None, "no conflict to name: judged as a take-over (mlflow_adoption)"
    assert not gone.governed("vision-detector", legacy=True) and gone.identity("vision-detector") == MALLORYS
    older = Places.of({ALIAS: _record(None)}, _models(vision_detector=MALLORYS))
    assert older.governed("vision-detector", legacy=True) and older.refusal("vision-detector") is None


def test_the_creation_time_is_recorded_read_back_strictly_and_kept_by_a_later_write() -> None:
    parsed = parse(record_tag(ALIAS), _value(ALIAS, _record()))
    assert parsed is not None and parsed[1] == _record()
    stored = json.loads(_value(ALIAS, _record()))
    for bad in ("x", 17, "1" * 40):
        found = parse(record_tag(ALIAS), json.dumps({**stored, "model": bad}))
        assert found is not None and found[1].error is not None and found[1].model is None, bad
    exp = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "vision/exp")
    on_exp = parse(record_tag(exp), json.dumps({**stored, "kind": "Experiment", "name": exp.name}))
    assert on_exp is not None and on_exp[1].error is not None, "recorded for aliases and grants only"
    assert json.loads(_value(ALIAS, _record(None))).get("model") is None, "older records keep their stored form"

    prior = Inventory(frozenset({ALIAS}), records={ALIAS: _record()})
    later = prior.updated({ALIAS}, {ALIAS: Claim(_record(None), wrote=True)})
    assert later.records[ALIAS].model == VISIONS, "a write that does not know it keeps it"


def test_an_apply_records_the_model_it_wrote_on_and_fills_it_into_an_older_record_without_reattributing() -> None:
    places = Places.of({}, _models(vision_detector=VISIONS))
    wrote = places.claimed(ALIAS, Claim(_record(None), wrote=True), None)
    assert wrote.record.model == VISIONS and wrote.wrote
    older = InventoryRecord("ModelPromotion/vision/old", "vision", "old.yaml")
    filled = places.claimed(ALIAS, Claim(_record(None), wrote=False), older)
    assert filled.wrote and filled.record == InventoryRecord(
        "ModelPromotion/vision/old", "vision", "old.yaml", model=VISIONS
    )
    kept = places.claimed(ALIAS, Claim(_record(None), wrote=False), _record())
    assert not kept.wrote, "a no-op over a record that has it changes nothing"
    assert Places().claimed(ALIAS, Claim(_record(None), wrote=True), None).record.model is None, "no model, no time"
