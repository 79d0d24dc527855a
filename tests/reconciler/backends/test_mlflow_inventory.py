"""mlcp's record in MLflow: tags a tenant member can edit never decide whose an experiment or grant is.

An in-memory MLflow (the few experiment endpoints the backend uses) stands in
for the server; the integration tests run the backend against a real one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.inventory import Claim, InventoryRecord
from controlplane.plans import Action, Change, ObjectRef
from reconciler.backends.base import ApplyOptions, BackendError
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_inventory import (
    INSTALLATION_TAG,
    ROLE,
    ROLE_TAG,
    STORE,
    RegistryInventory,
    parse,
    record_tag,
    store_name,
)
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest
from tests.reconciler.backends.lossy_mlflow import LossyMlflow

EXP = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "vision/detector")
OWN = {"mlcp.dev/managed-by": "mlcp"}
RECORD = InventoryRecord("Experiment/vision/detector", "vision", "tenants/vision/experiments/detector.yaml")
MINE = store_name("mlcp-system")
"""The store of the default installation (controller namespace mlcp-system), which these tests' backends are."""


class FakeMlflow(MlflowRest):
    """Experiments by name, with tags; every write is remembered."""

    def __init__(self) -> None:
        super().__init__("http://registry.invalid")
        self.experiments: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, dict[str, Any]]] = []

    def add(self, name: str, tags: dict[str, str], stage: str = "active") -> dict[str, Any]:
        tagged = [{"key": k, "value": v} for k, v in tags.items()]
        item: dict[str, Any] = {"experiment_id": str(len(self.experiments) + 1), "name": name, "tags": tagged}
        item["lifecycle_stage"] = stage
        self.experiments[name] = item
        return item

    def _by_id(self, experiment_id: str) -> dict[str, Any]:
        return next(e for e in self.experiments.values() if e["experiment_id"] == experiment_id)

    def auth_enabled(self) -> bool | None:
        return False

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        body = body or {}
        self.calls[path] += 1
        if path == "experiments/search":
            owned = [
                e for e in self.experiments.values() if {"key": "mlcp.dev/managed-by", "value": "mlcp"} in e["tags"]
            ]
            return {"experiments": owned}
        if path == "registered-models/search":
            return {"registered_models": []}
        if path == "experiments/get":
            return {"experiment": self._by_id(str(body["experiment_id"]))}
        self.writes.append((path, body))
        if path == "experiments/create":
            if body["name"] in self.experiments:
                raise MlflowApiError(400, "RESOURCE_ALREADY_EXISTS", "exists")
            made = self.add(body["name"], {t["key"]: t["value"] for t in body.get("tags", [])})
            return {"experiment_id": made["experiment_id"]}
        item = self._by_id(str(body["experiment_id"]))
        if path == "experiments/set-experiment-tag":
            kept = [t for t in item["tags"] if t["key"] != body["key"]]
            item["tags"] = [*kept, {"key": body["key"], "value": body["value"]}]
        elif path == "experiments/delete-experiment-tag":
            item["tags"] = [t for t in item["tags"] if t["key"] != body["key"]]
        elif path == "experiments/restore":
            item["lifecycle_stage"] = "active"
        elif path == "experiments/update":
            if body["new_name"] in self.experiments:
                raise MlflowApiError(400, "RESOURCE_ALREADY_EXISTS", "exists")
            self.experiments[body["new_name"]] = {**self.experiments.pop(item["name"]), "name": body["new_name"]}
        return {}


def _store_tags(rest: FakeMlflow) -> dict[str, str]:
    return {t["key"]: t["value"] for t in rest.experiments[MINE]["tags"]}


def _recorded(rest: FakeMlflow, ref: ObjectRef, record: InventoryRecord) -> None:
    tags = _store_tags(rest) if MINE in rest.experiments else {ROLE_TAG: ROLE, **OWN}
    value = {"kind": ref.kind, "name": ref.name, "spec": record.spec, "tenant": record.tenant, "source": record.source}
    tags[record_tag(ref)] = json.dumps(value, sort_keys=True, separators=(",", ":"))  # as mlcp writes it
    stage = rest.experiments[MINE]["lifecycle_stage"] if MINE in rest.experiments else "active"
    rest.add(MINE, tags, stage)


def _delete(ref: ObjectRef = EXP) -> Change:
    return Change(ref, Action.delete, "removed from git", None, None, None, 60, live_version="v")


def test_forged_tags_on_the_experiment_do_not_change_whose_deletion_it_is() -> None:
    rest = FakeMlflow()
    forged = {**OWN, "mlcp.dev/tenant": "mine", "mlcp.dev/source": "tenants/mine/experiments/x.yaml"}
    rest.add(EXP.name, forged)
    _recorded(rest, EXP, RECORD)
    backend = MlflowBackend(rest)
    state = backend.read()
    assert EXP in state.inventory.refs and state.inventory.owner_of(EXP) == RECORD
    assert MINE not in {r.name for r in state.objects}, "the store is not a live experiment to plan"
    [change] = backend.review([_delete()])
    assert (str(change.spec), change.tenant, change.source) == (RECORD.spec, RECORD.tenant, RECORD.source)


def test_an_owner_tag_added_by_hand_does_not_make_an_experiment_prunable() -> None:
    rest = FakeMlflow()
    rest.add("vision/hand-made", OWN)
    _recorded(rest, EXP, RECORD)
    rest.add(EXP.name, OWN)
    state = MlflowBackend(rest).read()
    assert {r.name for r in state.objects} == {"vision/hand-made", EXP.name}
    assert state.inventory.refs == {EXP}


def test_before_the_store_exists_tagged_objects_stay_prunable_but_are_nobodys() -> None:
    rest = FakeMlflow()
    rest.add(EXP.name, {**OWN, "mlcp.dev/tenant": "vision"})
    backend = MlflowBackend(rest)
    assert backend.read().inventory.refs == {EXP}
    [change] = backend.review([_delete()])
    assert (change.spec, change.tenant, change.source) == (None, None, None) and "no record" in change.reason


def test_an_experiment_named_like_the_store_that_mlcp_did_not_make_is_refused() -> None:
    rest = FakeMlflow()
    rest.add(MINE, OWN)
    with pytest.raises(BackendError, match="not mlcp's inventory"):
        MlflowBackend(rest).read()


def test_a_record_under_another_objects_key_or_with_bad_values_blocks_that_delete() -> None:
    rest = FakeMlflow()
    other = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "vision/other")
    rest.add(MINE, {ROLE_TAG: ROLE, **OWN, record_tag(other): json.dumps({"kind": "Experiment", "name": EXP.name})})
    rest.add(EXP.name, OWN)
    backend = MlflowBackend(rest)
    backend.read()
    [change] = backend.review([_delete()])
    assert change.blocked and "another object's key" in change.blocked and change.tenant is None
    assert parse(record_tag(EXP), "not json") is None
    _, bad = parse(record_tag(EXP), json.dumps({"kind": "Experiment", "name": EXP.name, "tenant": 5})) or (None, None)
    assert bad is not None and bad.error and "tenant is 5" in bad.error


def test_records_are_written_once_then_only_what_changed() -> None:
    rest = FakeMlflow()
    rest.add(EXP.name, OWN)
    backend = MlflowBackend(rest)
    backend.read()
    claims = {EXP: Claim(RECORD, wrote=True)}
    backend.record_inventory(frozenset({EXP}), ApplyOptions(claims=claims))
    assert [p for p, _ in rest.writes] == ["experiments/create", "experiments/set-experiment-tag"]
    assert _store_tags(rest)[ROLE_TAG] == ROLE
    rest.writes.clear()
    backend.read()
    backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=False)}))
    assert rest.writes == [], "a no-op apply writes nothing"
    backend.record_inventory(frozenset(), ApplyOptions())
    assert [p for p, _ in rest.writes] == ["experiments/delete-experiment-tag"]
    assert record_tag(EXP) not in _store_tags(rest)


def test_a_deleted_store_is_restored_before_it_is_written() -> None:
    rest = FakeMlflow()
    _recorded(rest, EXP, RECORD)
    rest.experiments[MINE]["lifecycle_stage"] = "deleted"
    store = RegistryInventory(rest, "mlcp-system")
    store.take(list(rest.experiments.values()))
    other = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "vision/two")
    store.write({EXP: RECORD, other: RECORD})
    assert [p for p, _ in rest.writes] == ["experiments/restore", "experiments/set-experiment-tag"]


def test_an_unreadable_record_is_kept_as_it_is_not_rewritten() -> None:
    rest = FakeMlflow()
    rest.add(
        MINE, {ROLE_TAG: ROLE, **OWN, record_tag(EXP): json.dumps({"kind": "Experiment", "name": EXP.name, "spec": 1})}
    )
    store = RegistryInventory(rest, "mlcp-system")
    store.take(list(rest.experiments.values()))
    store.write(dict(store.records))
    assert rest.writes == []


def test_the_store_made_by_a_create_whose_answer_was_lost_is_written_not_refused() -> None:
    # before: the retry's "already exists" was taken for someone else's store, and the first pass that wrote
    # records failed ("appeared since mlcp read the registry"), its records lost
    rest = LossyMlflow("experiments/create")
    store = RegistryInventory(rest, "mlcp-system")
    store.take([])
    store.write({EXP: RECORD})
    assert set(rest.experiments) == {MINE} and record_tag(EXP) in rest.tags(MINE)


def test_a_store_someone_made_at_the_same_moment_is_still_refused_after_a_lost_answer() -> None:
    rest = LossyMlflow("experiments/create")
    real = rest._act

    def forged(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result = real(method, path, body)
        if path == "experiments/create":  # someone writes a record of their own into it at once
            rest.experiments[MINE]["tags"].append({"key": record_tag(EXP), "value": "{}"})
        return result

    rest._act = forged  # type: ignore[method-assign]
    store = RegistryInventory(rest, "mlcp-system")
    store.take([])
    with pytest.raises(BackendError, match="appeared since mlcp read the registry"):
        store.write({EXP: RECORD})


def test_a_store_restored_by_an_attempt_whose_answer_was_lost_is_written() -> None:
    rest = LossyMlflow("experiments/restore")
    rest.add(MINE, {ROLE_TAG: ROLE, **OWN}, stage="deleted")
    store = RegistryInventory(rest, "mlcp-system")
    store.take(list(rest.experiments.values()))
    store.write({EXP: RECORD})
    assert rest.experiments[MINE]["lifecycle_stage"] == "active" and record_tag(EXP) in rest.tags(MINE)


def _installations(rest: FakeMlflow) -> tuple[MlflowBackend, MlflowBackend]:
    """Two mlcp installations (controller namespaces team-a and team-b) on one MLflow; team-a made and recorded EXP."""
    a, b = MlflowBackend(rest, "team-a"), MlflowBackend(rest, "team-b")
    a.read()
    rest.add(EXP.name, OWN)
    a.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=True)}))
    assert set(rest.experiments) == {EXP.name, store_name("team-a")}
    return a, b


def test_another_installation_on_the_same_mlflow_neither_prunes_nor_takes_over_its_objects() -> None:
    rest = FakeMlflow()
    a, b = _installations(rest)
    state = b.read()
    assert EXP in state.objects and EXP not in state.inventory.refs, "before b's first write: not b's to prune"
    b.record_inventory(frozenset(), ApplyOptions())
    b.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=True)}))
    assert b.read().inventory.refs == frozenset(), "never recorded as b's, whatever claims it"
    assert store_name("team-b") not in rest.experiments, "nothing of b's to record"
    assert {r.name for r in state.objects} == {EXP.name}, "no installation's store is a live experiment"
    desired = {"name": EXP.name, "tags": {}}
    for action in (Action.create, Action.update, Action.noop):
        [change] = b.review([Change(EXP, action, "declared", None, "vision", None, 60, desired=desired)])
        assert change.blocked and "managed by another mlcp, installation 'team-a'" in change.blocked, action
        assert change.action is not Action.noop, "a no-op would record it as b's"
    assert a.read().inventory.refs == {EXP}, "a keeps its own"
    [mine] = a.review([Change(EXP, Action.update, "declared", None, "vision", None, 60, desired=desired)])
    assert mine.blocked is None


def test_a_new_installation_beside_another_owns_no_tagged_object_its_store_does_not_record() -> None:
    """Every installation tags what it makes the same way: an object of team-a's that team-a's store does not
    record (a record dropped, an alias left behind) was team-b's to prune before team-b's first write, as tags
    counted whenever team-b had no store. Tags speak for an older mlcp's registry only: no store at all."""
    rest = FakeMlflow()
    _installations(rest)
    orphan = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "vision/left-behind")
    rest.add(orphan.name, {**OWN, "mlcp.dev/tenant": "vision"})
    state = MlflowBackend(rest, "team-b").read()
    assert orphan in state.objects and state.inventory.refs == frozenset(), "nothing is team-b's before it writes"


def test_an_older_mlcps_store_is_read_as_this_installations_and_renamed_at_its_first_write() -> None:
    rest = FakeMlflow()
    rest.add(EXP.name, OWN)
    value = {"kind": EXP.kind, "name": EXP.name, "spec": RECORD.spec, "tenant": RECORD.tenant, "source": RECORD.source}
    rest.add(STORE, {ROLE_TAG: ROLE, **OWN, record_tag(EXP): json.dumps(value, sort_keys=True, separators=(",", ":"))})
    a, b = MlflowBackend(rest, "team-a"), MlflowBackend(rest, "team-b")
    assert a.read().inventory.owner_of(EXP) == RECORD, "the upgrade keeps every record"
    state = b.read()
    assert b.read().inventory.owner_of(EXP) == RECORD, "until one installation writes, each reads it as its own"
    a.record_inventory(state.inventory.refs, ApplyOptions(claims={EXP: Claim(RECORD, wrote=False)}))
    assert set(rest.experiments) == {EXP.name, store_name("team-a")}, "renamed, not copied"
    assert {t["key"]: t["value"] for t in rest.experiments[store_name("team-a")]["tags"]}[INSTALLATION_TAG] == "team-a"
    assert a.read().inventory.owner_of(EXP) == RECORD
    assert b.read().inventory.refs == frozenset(), "the other installation starts its own"
    [change] = b.review([Change(EXP, Action.update, "declared", None, "vision", None, 60, desired={"name": EXP.name})])
    assert change.blocked and "installation 'team-a'" in change.blocked


def test_an_older_mlcps_store_left_beside_this_installations_is_anothers() -> None:
    rest = FakeMlflow()
    rest.add(EXP.name, OWN)
    rest.add(store_name("team-a"), {ROLE_TAG: ROLE, **OWN})
    rest.add(STORE, {ROLE_TAG: ROLE, **OWN, record_tag(EXP): json.dumps({"kind": EXP.kind, "name": EXP.name})})
    a = MlflowBackend(rest, "team-a")
    assert a.read().inventory.refs == frozenset()
    [change] = a.review([Change(EXP, Action.create, "declared", None, "vision", None, 60, desired={"name": EXP.name})])
    assert change.blocked and f"an older mlcp (its inventory {STORE!r})" in change.blocked


def test_the_migration_is_refused_when_another_installation_renamed_the_store_since_the_read() -> None:
    rest = FakeMlflow()
    rest.add(STORE, {ROLE_TAG: ROLE, **OWN})
    a, b = MlflowBackend(rest, "team-a"), MlflowBackend(rest, "team-b")
    a.read()
    b.read()
    b.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=True)}))
    with pytest.raises(BackendError, match=r"was renamed to 'mlcp-inventory\.team-b' since mlcp read the registry"):
        a.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=True)}))
    assert set(rest.experiments) == {store_name("team-b")}


def test_a_deleted_store_of_an_older_mlcp_is_restored_then_renamed() -> None:
    rest = FakeMlflow()
    rest.add(STORE, {ROLE_TAG: ROLE, **OWN}, stage="deleted")
    backend = MlflowBackend(rest, "team-a")
    backend.read()
    backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=True)}))
    writes = [p for p, _ in rest.writes]
    assert writes.index("experiments/restore") < writes.index("experiments/update"), "MLflow renames active ones only"
    assert rest.experiments[store_name("team-a")]["lifecycle_stage"] == "active"
