"""mlcp records, when it creates an experiment, that it did and where MLflow put it; an adopted one never is.

Which files a promotion may serve trusts an experiment's location only from this record (reconciler/servedhomes.py),
so what would forge it is tried here: adopting a tagged experiment someone made, racing a create whose answer was
lost with the same tags at another place, and a stored record that says more than mlcp writes.
"""

from __future__ import annotations

import json
from typing import Any

from controlplane.inventory import Claim, InventoryRecord, Made, TakenOver
from controlplane.plans import Action, Change, ObjectRef, SpecKey
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_experiments import live_experiment
from reconciler.backends.mlflow_inventory import parse, record_tag, store_name
from tests.reconciler.backends.lossy_mlflow import DEFAULT_ROOT, LossyMlflow

EXP = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "t/exp")
ALIAS = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "m@production")
SPEC = SpecKey.parse("Experiment/t/exp")
TAGS = {"mlcp.dev/managed-by": "mlcp", "mlcp.dev/tenant": "t", "mlcp.dev/spec": "Experiment/t/exp"}
STORE = store_name("mlcp-system")


def _change(action: Action, location: str | None = None, live: str | None = "v") -> Change:
    desired: dict[str, Any] = {"name": EXP.name, "tags": TAGS}
    if location:
        desired["artifactLocation"] = location
    live = None if action is Action.create else live
    return Change(EXP, action, "why", SPEC, "t", "e.yaml", 60, desired=desired, live_version=live)


def _applied(rest: LossyMlflow, change: Change) -> MlflowBackend:
    """`change` applied and recorded as an apply does; the backend has read the registry again since."""
    backend = MlflowBackend(rest)
    backend.read()
    outcome = backend.apply(change, ApplyOptions())
    assert outcome.status is Status.applied, outcome.message
    backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(InventoryRecord.of(change), True)}))
    backend.read()
    return backend


def _made(backend: MlflowBackend) -> Made | None:
    return backend.store.records[EXP].made


def test_an_experiment_mlcp_creates_is_recorded_with_its_id_and_location() -> None:
    rest = LossyMlflow()
    backend = _applied(rest, _change(Action.create))
    assert _made(backend) == Made("1", f"{DEFAULT_ROOT}/1")
    asked = LossyMlflow()
    backend = _applied(asked, _change(Action.create, "s3://ml-artifacts/t/exp"))
    assert _made(backend) == Made("1", "s3://ml-artifacts/t/exp")


def test_a_later_write_keeps_that_mlcp_made_it() -> None:
    rest = LossyMlflow()
    _applied(rest, _change(Action.create))
    backend = _applied(rest, _change(Action.update))
    assert _made(backend) == Made("1", f"{DEFAULT_ROOT}/1")


def test_an_adopted_experiment_is_recorded_as_the_tenants_not_as_made() -> None:
    """Someone made `t/exp` by hand at a place of their choosing and tagged it; mlcp adopts it (an update)."""
    rest = LossyMlflow()
    found = rest.add(EXP.name, dict(TAGS), location=f"{DEFAULT_ROOT}/7")
    backend = _applied(rest, _change(Action.update, live=live_experiment(found).version))
    assert backend.store.records[EXP].tenant == "t"
    assert _made(backend) is None
    assert backend.store.records[EXP].taken == TakenOver(found["experiment_id"], f"{DEFAULT_ROOT}/7"), "but its id"


def test_a_lost_create_is_recorded_as_made_only_where_mlcps_create_would_have_put_it() -> None:
    rest = LossyMlflow("experiments/create")
    assert _made(_applied(rest, _change(Action.create))) == Made("1", f"{DEFAULT_ROOT}/1")
    # someone's create with mlcp's very tags wins the race while mlcp's answer is lost, at another's place
    rest = LossyMlflow("experiments/create")
    real = rest._act

    def racing(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "experiments/create" and rest.calls[path] == 1:
            rest.add(EXP.name, {t["key"]: t["value"] for t in body["tags"]}, location=f"{DEFAULT_ROOT}/5")
            return {"experiment_id": "1"}  # its answer is lost: the retry meets the racer's
        return real(method, path, body)

    rest._act = racing  # type: ignore[method-assign]
    backend = _applied(rest, _change(Action.create))
    assert backend.store.records[EXP].tenant == "t", "taken as mlcp's own, as before"
    assert _made(backend) is None, "but not recorded as made: its location is not one mlcp's create gives"


def test_a_stored_made_is_read_strictly() -> None:
    base = {"kind": "Experiment", "name": EXP.name, "spec": "Experiment/t/exp", "tenant": "t", "source": "e.yaml"}
    key = record_tag(EXP)
    assert parse(key, json.dumps(base)) == (EXP, InventoryRecord("Experiment/t/exp", "t", "e.yaml"))
    good = {**base, "made": {"id": "12", "location": "s3://b/12"}}
    assert parse(key, json.dumps(good)) == (
        EXP,
        InventoryRecord("Experiment/t/exp", "t", "e.yaml", made=Made("12", "s3://b/12")),
    )
    for made in (
        {"id": "12"},
        {"id": "12", "location": "s3://b/12", "more": 1},
        {"id": 12, "location": "s3://b/12"},
        {"id": "../1", "location": "s3://b/12"},
        {"id": "12", "location": ""},
        {"id": "12", "location": "s3://b/" + "x" * 3000},
        ["12", "s3://b/12"],
    ):
        parsed = parse(key, json.dumps({**base, "made": made}))
        assert parsed is not None and parsed[1].error is not None and parsed[1].made is None, made
    alias = {"kind": "ModelAlias", "name": ALIAS.name, "spec": None, "tenant": None, "source": None}
    parsed = parse(record_tag(ALIAS), json.dumps({**alias, "made": {"id": "1", "location": "s3://b/1"}}))
    assert parsed is not None and parsed[1].error == "made on a ModelAlias: mlcp records it for experiments only"


def test_a_record_an_older_mlcp_wrote_says_nothing_of_making_and_keeps_its_stored_form() -> None:
    """Upgrade: a record without `made` reads as an adopted experiment's, and a no-op apply rewrites nothing."""
    rest = LossyMlflow()
    rest.add(EXP.name, dict(TAGS))
    old = {"kind": "Experiment", "name": EXP.name, "spec": "Experiment/t/exp", "tenant": "t", "source": "e.yaml"}
    stored = json.dumps(old, sort_keys=True, separators=(",", ":"))
    rest.add(STORE, {"mlcp.dev/role": "inventory", "mlcp.dev/managed-by": "mlcp", record_tag(EXP): stored})
    backend = MlflowBackend(rest)
    backend.read()
    assert _made(backend) is None
    noop = _change(Action.noop)
    backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(InventoryRecord.of(noop), False)}))
    assert rest.tags(STORE)[record_tag(EXP)] == stored


def test_an_experiment_renamed_into_the_name_of_one_mlcp_made_is_not_deleted_as_mlcps() -> None:
    """Bob (EDIT, not MANAGE: he may rename and tag, not delete) renames the experiment mlcp made away, gives its
    name to Alice's, tags it, and removes the spec: the prune would have soft-deleted Alice's experiment."""
    rest = LossyMlflow()
    _applied(rest, _change(Action.create))
    made = rest.experiments.pop(EXP.name)
    rest.experiments["t/old"] = {**made, "name": "t/old"}
    alices = rest.add(EXP.name, dict(TAGS), location="s3://ml-artifacts/t/alices")
    backend = MlflowBackend(rest)
    backend.read()
    delete = Change(EXP, Action.delete, "removed from git", None, None, None, 60, live_version="v")
    [reviewed] = backend.review([delete])
    assert (
        reviewed.blocked is not None and f"not experiment {made['experiment_id']} that mlcp created" in reviewed.blocked
    )
    outcome = backend.apply(delete, ApplyOptions())  # an apply of a plan made before the swap
    assert outcome.status is Status.skipped and alices["lifecycle_stage"] == "active"
