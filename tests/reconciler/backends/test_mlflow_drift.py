"""Drift of a model alias is decided from mlcp's own record, never from tags a tenant member can rewrite.

As the attacker: a member with EDIT on the model writes `mlcp.dev/alias.<a>.version` to make a held promotion
look like a heal (a), or rewrites it (or deletes it) so that the heal of her hand move looks like an ordinary
move (b). The pure judgement is tested first, then the backend end to end against an in-memory MLflow: the
record of the version mlcp set is written by the apply that moves the alias, forgotten right before a move, and
a malformed record is an error for that one alias only. The integration attack tests run the same against the
real server and `mlcp plan` / `apply`.
"""

from __future__ import annotations

import json
from typing import Any

from controlplane.inventory import Claim, InventoryRecord, LastSet
from controlplane.plans import Action, Change, ObjectRef, SpecKey
from reconciler.backends import mlflow_drift
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_inventory import ROLE, ROLE_TAG, parse, record_tag
from reconciler.backends.mlflow_rest import MlflowApiError
from tests.reconciler.backends.test_mlflow_inventory import MINE, OWN, FakeMlflow

ALIAS = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "m@production")
COMMIT = "c" * 40
RECORD = InventoryRecord("ModelPromotion/t/p", "t", "tenants/t/promotions/p.yaml")
SET_3 = LastSet("3", COMMIT, "alice@example.com", "2026-11-30T07:00:00+00:00")
TAG = "mlcp.dev/alias.production.version"


def test_drift_is_what_mlcp_recorded_setting_not_what_the_model_tags_say() -> None:
    recorded = InventoryRecord("ModelPromotion/t/p", "t", "p.yaml", last_set=SET_3)
    healed = mlflow_drift.judge("m", "production", recorded, {TAG: "5"}, "5", "3")
    assert healed.drift == (
        "m@production was moved outside mlcp to version 5; mlcp had moved it to version 3 (by alice@example.com, "
        "at 2026-11-30T07:00:00+00:00, commit cccccccccccc). MLflow records neither who moved an alias nor when"
    ), "(b) a retagged hand move is still drift"
    assert healed.note and f"{TAG}=5 disagrees with mlcp's record, which says version 3" in healed.note
    assert "unverified claim" in healed.note
    forged = mlflow_drift.judge("m", "production", recorded, {TAG: "5"}, "3", "5")
    assert forged.drift is None, "(a) a tag naming the held target never makes its move a heal"
    assert forged.note and "decides nothing" in forged.note
    untagged = mlflow_drift.judge("m", "production", recorded, {}, "5", "3")
    assert untagged.drift is not None and untagged.note is None, "deleting the tags does not hide drift"
    assert mlflow_drift.judge("m", "production", recorded, {TAG: "9"}, "3", "3") == mlflow_drift.Verdict()


def test_an_alias_moved_by_hand_to_its_declared_version_is_a_move_from_mlcps_last_one() -> None:
    recorded = InventoryRecord("ModelPromotion/t/p", "t", "p.yaml", last_set=SET_3)
    there = mlflow_drift.judge("m", "production", recorded, {TAG: "5"}, "5", "5")
    assert there.moved == (
        "m@production was moved outside mlcp to version 5; mlcp had moved it to version 3 (by alice@example.com, "
        "at 2026-11-30T07:00:00+00:00, commit cccccccccccc). MLflow records neither who moved an alias nor when"
    ), "at the declared version, yet not where mlcp left it: the member's move, not mlcp's"
    assert there.restore == SET_3 and not there.heals and there.drift is None, "judged as a promotion, not a heal"
    assert there.note and f"{TAG}=5 disagrees with mlcp's record, which says version 3" in there.note
    elsewhere = mlflow_drift.judge("m", "production", recorded, {}, "4", "5")
    assert elsewhere.moved and "moved outside mlcp to version 4" in elsewhere.moved
    assert elsewhere.restore == SET_3 and elsewhere.drift is None, "off mlcp's last version, declared elsewhere"
    deleted = mlflow_drift.judge("m", "production", recorded, {}, None, None)
    assert deleted.moved and "nowhere (the alias was deleted)" in deleted.moved and deleted.restore == SET_3
    heal = mlflow_drift.judge("m", "production", recorded, {}, "4", "3")
    assert heal.heals and heal.drift == heal.moved and heal.restore == SET_3
    assert mlflow_drift.judge("m", "production", recorded, {}, "3", "5") == mlflow_drift.Verdict(), "where mlcp left it"


def test_without_a_recorded_version_an_alias_at_its_declared_version_is_confirmed_not_left_alone() -> None:
    broken = InventoryRecord(None, None, None, error="set.version is 'x', not a model version number")
    for record, why in ((None, "mlcp has no record of it"), (RECORD, "does not say"), (broken, "is unreadable")):
        there = mlflow_drift.judge("m", "production", record, {TAG: "3"}, "5", "5")
        assert there.unrecorded and why in there.unrecorded and "applying confirms it" in there.unrecorded
        assert there.restore is None and there.drift is None, "nowhere known to go back, nothing to heal"
        assert mlflow_drift.judge("m", "production", record, {}, "4", "5").restore is None, "nowhere known to go back"


def test_without_a_recorded_version_drift_is_unknown_and_nothing_bypasses_a_freeze() -> None:
    legacy = mlflow_drift.judge("m", "production", RECORD, {TAG: "3"}, "5", "3")
    assert legacy.drift is None
    assert legacy.note and "does not say which version mlcp last set" in legacy.note
    assert "freeze windows hold it" in legacy.note and f"{TAG}=3 disagrees" in legacy.note
    broken = InventoryRecord(None, None, None, error="set.version is 'x', not a model version number")
    unreadable = mlflow_drift.judge("m", "production", broken, {TAG: "3"}, "5", "3")
    assert unreadable.drift is None and unreadable.note and "is unreadable (set.version is 'x'" in unreadable.note
    never = mlflow_drift.judge("m", "production", None, {}, "5", "3")
    assert never == mlflow_drift.Verdict(), "an alias mlcp never recorded moving is an ordinary promotion"


def test_a_record_keeps_the_version_mlcp_set_and_its_old_form_without_one() -> None:
    with_set = parse(record_tag(ALIAS), _value(ALIAS, set_={"version": "3", "commit": COMMIT, "by": "a", "at": "t"}))
    assert with_set is not None and with_set[1].last_set == LastSet("3", COMMIT, "a", "t")
    assert with_set[1].spec == RECORD.spec and with_set[1].error is None
    old = parse(record_tag(ALIAS), _value(ALIAS))
    assert old is not None and old[1].last_set is None and old[1].error is None
    for bad, why in (
        ({"version": "3; drop"}, "not a model version number"),
        ({"version": 3}, "not a model version number"),
        ({"version": "3", "commit": "not-a-sha"}, "not a commit id"),
        ({"version": "3", "by": ["x"]}, "set.by is ['x']"),
        ("3", "not {version, commit, by, at}"),
        ({"version": "3", "extra": 1}, "not {version, commit, by, at}"),
    ):
        parsed = parse(record_tag(ALIAS), _value(ALIAS, set_=bad))
        assert parsed is not None and parsed[0] == ALIAS and parsed[1].error and why in parsed[1].error, bad


def test_the_apply_that_moves_an_alias_records_the_version_and_the_next_plan_judges_by_it() -> None:
    rest = Registry({"production": "3"}, {TAG: "3"})
    _store(rest, _value(ALIAS, set_={"version": "3", "commit": COMMIT, "by": "alice@example.com", "at": "t"}))
    backend = MlflowBackend(rest)
    backend.read()
    [declared] = backend.review([_change("5")])
    assert declared.drift is None and declared.action is Action.update
    outcome = backend.apply(declared, ApplyOptions(actor="bob@example.com"))
    assert outcome.status is Status.applied and rest.aliases["production"] == "5"
    assert _last(rest) is None, "the record named no version while the move was in flight"
    backend.record_inventory(frozenset({ALIAS}), ApplyOptions(claims={ALIAS: Claim(RECORD, wrote=True)}))
    assert _last(rest) == {"version": "5", "commit": COMMIT, "by": "bob@example.com", "at": _last(rest)["at"]}

    rest.aliases["production"] = "4"  # (b): the member moves it by hand and retags it to look like mlcp's move
    rest.tags[TAG] = "4"
    backend.read()
    [heal] = backend.review([_change("5")])
    assert heal.drift and "moved outside mlcp to version 4; mlcp had moved it to version 5" in heal.drift
    assert f"{TAG}=4 disagrees" in heal.reason

    rest.tags[TAG] = "6"  # (a): a declared move to 6, tagged as if mlcp had set 6
    [forged] = backend.review([_change("6")])
    assert forged.drift is None and "decides nothing" in forged.reason


def test_a_hand_move_to_the_declared_version_needs_authorizing_and_falls_back_to_mlcps_last() -> None:
    rest = Registry({"production": "5"}, {TAG: "5"})  # the member moved it to her promotion's version, and tagged it
    _store(rest, _value(ALIAS, set_={"version": "3", "commit": COMMIT, "by": "alice@example.com", "at": "t"}))
    backend = MlflowBackend(rest)
    backend.read()
    [adopt] = backend.review([_change("5")])
    assert adopt.action is Action.update and adopt.drift is None, "a promotion to authorize, held by freezes"
    assert [(d.old, d.new) for d in adopt.diffs] == [("3", "5")] and adopt.live_version == "5"
    assert adopt.reason.startswith("moves m@production from version 3 to version 5, where it already is: m@production")
    assert adopt.desired is not None and adopt.desired["previousVersion"] == "3"
    back = adopt.fallback
    assert back is not None and back.action is Action.update and back.blocked is None
    assert back.desired is not None and back.desired["version"] == "3" and back.live_version == "5"
    assert [(d.old, d.new) for d in back.diffs] == [("5", "3")]
    assert back.drift and "moved outside mlcp to version 5; mlcp had moved it to version 3" in back.drift
    assert back.reason.endswith(
        "moves it back to version 3, the version mlcp last set: the declared move from version 3 to version 5, "
        "where it already is, may not go ahead"
    )

    moves = rest.calls["registered-models/alias"]
    adopted = backend.apply(adopt, ApplyOptions(actor="bob@example.com"))
    assert adopted.status is Status.applied and "already (moved outside mlcp)" in adopted.message
    assert rest.aliases["production"] == "5" and rest.tags["mlcp.dev/alias.production.previous-version"] == "3"
    assert rest.calls["registered-models/alias"] == moves + 2, "read twice (compare-and-set, read back), never moved"
    backend.record_inventory(frozenset({ALIAS}), ApplyOptions(claims={ALIAS: Claim(RECORD, wrote=True)}))
    assert _last(rest)["version"] == "5" and _last(rest)["by"] == "bob@example.com"


def test_the_move_back_keeps_who_set_the_version_and_from_which_commit() -> None:
    rest = Registry({"production": "5"}, {})
    _store(rest, _value(ALIAS, set_={"version": "3", "commit": COMMIT, "by": "alice@example.com", "at": "t"}))
    backend = MlflowBackend(rest)
    backend.read()
    [held] = backend.review([_change("5")])
    assert held.fallback is not None
    restored = backend.apply(held.fallback, ApplyOptions(actor="mlcp-controller"))
    assert restored.status is Status.applied and rest.aliases["production"] == "3"
    assert rest.tags["mlcp.dev/alias.production.by"] == "alice@example.com"
    assert rest.tags["mlcp.dev/alias.production.commit"] == COMMIT
    assert rest.tags["mlcp.dev/alias.production.previous-version"] == "5"
    backend.record_inventory(frozenset({ALIAS}), ApplyOptions(claims={ALIAS: Claim(RECORD, wrote=True)}))
    assert _last(rest)["version"] == "3" and _last(rest)["by"] == "alice@example.com"


def test_a_hand_move_that_races_the_move_back_leaves_mlcps_record_as_it_was() -> None:
    rest = Registry({"production": "5"}, {}, race="5")  # she moves it again the moment mlcp moves it back
    _store(rest, _value(ALIAS, set_={"version": "3", "commit": COMMIT, "by": "alice@example.com", "at": "t"}))
    backend = MlflowBackend(rest)
    backend.read()
    for change in backend.review([_change("5")])[0].fallback, backend.review([_change("3")])[0]:  # back, heal
        assert change is not None
        outcome = backend.apply(change, ApplyOptions())
        assert outcome.status is Status.failed and "conflict: m@production is at 5" in outcome.message
        assert _last(rest)["version"] == "3", "a move to the recorded version never forgets it"
        backend.record_inventory(frozenset({ALIAS}), ApplyOptions())
        assert _last(rest)["version"] == "3"
    backend.read()
    [again] = backend.review([_change("5")])
    assert again.fallback is not None, "the next pass moves it back again, not a no-op of unknown drift"


def test_a_version_quarantined_since_is_not_gone_back_to() -> None:
    rest = Registry({"production": "5"}, {}, quarantined={"3": "bias audit"})
    _store(rest, _value(ALIAS, set_={"version": "3"}))
    backend = MlflowBackend(rest)
    backend.read()
    [held] = backend.review([_change("5")])
    assert held.fallback is not None and held.fallback.blocked is not None
    assert "version 3 of 'm', the version mlcp last set, is quarantined since" in held.fallback.blocked


def test_a_hand_move_of_an_alias_whose_record_has_no_version_is_caught_without_mlcp_moving_it_first() -> None:
    rest = Registry({"production": "5"}, {TAG: "3"})
    _store(rest, _value(ALIAS))  # an older mlcp's record: no version
    backend = MlflowBackend(rest)
    backend.read()
    [confirm] = backend.review([_change("5")])
    assert confirm.action is Action.update and confirm.fallback is None and confirm.blocked is None
    assert "is at version 5, its declared version, but mlcp's record of it does not say" in confirm.reason
    moves = rest.calls["registered-models/alias"]
    outcome = backend.apply(confirm, ApplyOptions(actor="bob@example.com"))
    assert outcome.status is Status.applied and "confirmed and recorded as mlcp's" in outcome.message
    assert rest.aliases["production"] == "5" and rest.calls["registered-models/alias"] == moves + 2, "read, read back"
    backend.record_inventory(frozenset({ALIAS}), ApplyOptions(claims={ALIAS: Claim(RECORD, wrote=True)}))
    assert _last(rest)["version"] == "5"

    rest.aliases["production"] = "4"  # the member moves it by hand: mlcp never moved it itself
    backend.read()
    [heal] = backend.review([_change("5")])
    assert heal.drift and "moved outside mlcp to version 4; mlcp had moved it to version 5" in heal.drift


def test_an_unrecorded_alias_at_a_version_its_promotion_may_not_reach_is_blocked_not_recorded() -> None:
    rest = Registry({"production": "5"}, {}, quarantined={"5": "leaked training data"})
    _store(rest, _value(ALIAS))
    backend = MlflowBackend(rest)
    backend.read()
    [confirm] = backend.review([_change("5")])
    assert confirm.blocked and "quarantined" in confirm.blocked and confirm.fallback is None


def test_a_move_that_fails_leaves_drift_unknown_not_judged_from_the_version_before() -> None:
    rest = Registry({"production": "3"}, {TAG: "3"}, refuse_tags=True)
    _store(rest, _value(ALIAS, set_={"version": "3"}))
    backend = MlflowBackend(rest)
    backend.read()
    [move] = backend.review([_change("5")])
    outcome = backend.apply(move, ApplyOptions())
    assert outcome.status is Status.failed and "recording who/when failed" in outcome.message
    backend.record_inventory(frozenset({ALIAS}), ApplyOptions())
    assert _last(rest) is None and record_tag(ALIAS) in _store_tags(rest), "the record stays, without a version"
    backend.read()
    [back] = backend.review([_change("3")])
    assert back.drift is None and "does not say which version mlcp last set" in back.reason


def test_an_apply_by_a_backend_that_has_not_read_records_the_version_too() -> None:
    rest = Registry({"production": "3"}, {TAG: "3"})
    _store(rest, _value(ALIAS, set_={"version": "3"}))
    planner = MlflowBackend(rest)
    planner.read()
    [move] = planner.review([_change("5")])
    applier = MlflowBackend(rest)  # e.g. a tool that applies a plan it did not read for
    assert applier.apply(move, ApplyOptions()).status is Status.applied
    applier.record_inventory(frozenset({ALIAS}), ApplyOptions(claims={ALIAS: Claim(RECORD, wrote=True)}))
    assert _last(rest)["version"] == "5"


def test_a_malformed_record_is_an_error_for_that_alias_only() -> None:
    rest = Registry({"production": "4"}, {TAG: "3"})
    other = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "t/e")
    _store(rest, _value(ALIAS, set_={"version": "three"}), (other, _value(other)))
    backend = MlflowBackend(rest)
    backend.read()
    assert backend.store.records[other].error is None
    [change] = backend.review([_change("3")])
    assert change.drift is None and change.blocked is None
    assert "inventory record of m@production is unreadable (set.version is 'three'" in change.reason


def test_whose_an_alias_is_comes_from_the_record_not_the_tags() -> None:
    rest = Registry({"production": "3", "staging": "2"}, {"mlcp.dev/alias.staging.version": "2"})
    _store(rest, _value(ALIAS, set_={"version": "3"}))  # production recorded, its tags deleted by a member
    state = MlflowBackend(rest).read()
    staging = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "m@staging")
    assert ALIAS in state.inventory.refs, "deleting the tags does not keep mlcp's alias from being pruned"
    assert staging not in state.inventory.refs, "a tag added by hand does not make an alias mlcp's"


# -- an in-memory registry: one model `m` with versions 1-9, on top of the experiment fake -------------------------


class Registry(FakeMlflow):
    def __init__(
        self,
        aliases: dict[str, str],
        tags: dict[str, str],
        refuse_tags: bool = False,
        quarantined: dict[str, str] | None = None,
        race: str | None = None,
    ) -> None:
        super().__init__()
        self.aliases, self.tags, self.refuse_tags = dict(aliases), dict(tags), refuse_tags
        self.quarantined, self.race = quarantined or {}, race
        """`race`: where someone moves the alias right after each move (MLflow has no compare-and-set)."""

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        body = body or {}
        if path == "registered-models/search":
            self.calls[path] += 1
            aliases = [{"alias": a, "version": v} for a, v in self.aliases.items()]
            tags = [{"key": k, "value": v} for k, v in self.tags.items()]
            return {"registered_models": [{"name": "m", "aliases": aliases, "tags": tags}]}
        if path == "registered-models/alias":
            self.calls[path] += 1
        if path == "registered-models/alias" and method == "GET":
            if body["alias"] not in self.aliases:
                raise MlflowApiError(404, "RESOURCE_DOES_NOT_EXIST", "not found")
            return {"model_version": {"version": self.aliases[body["alias"]]}}
        if path == "registered-models/alias":
            self.aliases[body["alias"]] = self.race or str(body["version"])
            return {}
        if path == "model-versions/get":
            reason = self.quarantined.get(str(body["version"]))
            tags = [{"key": "mlcp.dev/quarantined", "value": reason}] if reason else []
            return {"model_version": {"version": body["version"], "run_id": "", "source": "s3://m", "tags": tags}}
        if path.endswith("set-tag"):
            if self.refuse_tags:
                raise MlflowApiError(403, "PERMISSION_DENIED", "no")
            if path.startswith("registered-models"):
                self.tags[body["key"]] = body["value"]
            return {}
        return super().call(method, path, body)


def _value(ref: ObjectRef, set_: Any = None) -> str:
    stored: dict[str, Any] = {"kind": ref.kind, "name": ref.name, **{k: getattr(RECORD, k) for k in ("spec", "tenant")}}
    stored["source"] = RECORD.source
    if set_ is not None:
        stored["set"] = set_
    return json.dumps(stored, sort_keys=True, separators=(",", ":"))


def _store(rest: FakeMlflow, value: str, *more: tuple[ObjectRef, str]) -> None:
    rest.add(MINE, {ROLE_TAG: ROLE, **OWN, record_tag(ALIAS): value, **{record_tag(r): v for r, v in more}})


def _store_tags(rest: FakeMlflow) -> dict[str, str]:
    return {t["key"]: t["value"] for t in rest.experiments[MINE]["tags"]}


def _last(rest: FakeMlflow) -> Any:
    return json.loads(_store_tags(rest)[record_tag(ALIAS)]).get("set")


def _change(version: str) -> Change:
    desired = {"model": "m", "alias": "production", "version": version, "gates": [], "provenance": {"commit": COMMIT}}
    spec = SpecKey.parse("ModelPromotion/t/p")
    return Change(ALIAS, Action.update, "paired", spec, "t", RECORD.source, 65, desired=desired)
