"""Unit tests for the pure parts of the MLflow backend: promotion review (gates: test_mlflow_gates.py).

The review talks to MLflow only through `MlflowRest.get`, so a dictionary of
canned answers stands in for the server here; the integration tests run the
same paths against a real one.
"""

from __future__ import annotations

from typing import Any

from controlplane.inventory import InventoryRecord, LastSet, Made
from controlplane.plans import Action, Change, FieldDiff, ObjectRef, SpecKey
from reconciler.backends.mlflow import MlflowBackend, live_aliases
from reconciler.backends.mlflow_experiments import live_experiment, without_fixed_fields
from reconciler.backends.mlflow_promotion import ModelInfo, Promotions
from reconciler.backends.mlflow_rest import MlflowRest

REF = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "m@production")
OURS = frozenset({"7"})
"""The experiments mlcp records as tenant t's: the runs below are in experiment 7."""
RUN_INFO = {"run_id": "r1", "experiment_id": "7"}


class CannedRest(MlflowRest):
    def __init__(self, answers: dict[tuple[str, str], dict[str, Any]]) -> None:
        super().__init__("http://registry.invalid")
        self.answers = answers

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        self.calls[path] += 1
        return self.answers[(path, str(query.get("version") or query.get("run_id")))]


def _change(desired: dict[str, Any], action: Action = Action.update) -> Change:
    return Change(REF, action, "paired", SpecKey.parse("ModelPromotion/t/p"), "t", "p.yaml", 65, desired=desired)


def _promotions(metrics: dict[str, float], aliases: dict[str, str]) -> Promotions:
    rest = CannedRest(
        {
            ("model-versions/get", "5"): {"model_version": {"version": "5", "run_id": "r1", "source": "s3://m/5"}},
            ("runs/get", "r1"): {
                "run": {"info": RUN_INFO, "data": {"metrics": [{"key": k, "value": v} for k, v in metrics.items()]}}
            },
        }
    )
    promotions = Promotions(rest)
    promotions.models = {"m": ModelInfo(aliases, {})}
    return promotions


GATE = {"metric": "auc", "comparison": ">=", "threshold": 0.9}


def test_review_moves_the_alias_when_gates_pass() -> None:
    change = _promotions({"auc": 0.95}, {"production": "3"}).review(
        _change({"model": "m", "alias": "production", "version": "5", "gates": [GATE]}), None, OURS
    )
    assert change.action is Action.update and change.blocked is None
    assert change.live_version == "3"
    assert change.diffs == (FieldDiff(("version",), "3", "5"),)
    assert change.reason == "moves m@production from version 3 to version 5"
    assert change.desired is not None and change.desired["gates"][0]["measured"] == 0.95


def test_review_blocks_with_the_measured_value() -> None:
    change = _promotions({"auc": 0.85}, {}).review(
        _change({"model": "m", "alias": "production", "version": "5", "gates": [GATE]}, Action.create), None, OURS
    )
    assert change.action is Action.create
    assert change.blocked == "gate auc >= 0.9 failed: measured 0.85"


def test_review_resolves_from_alias_and_skips_metrics_when_already_there() -> None:
    promotions = _promotions({}, {"staging": "5", "production": "5"})
    recorded = InventoryRecord("ModelPromotion/t/p", "t", "p.yaml", last_set=LastSet("5", None, None, None))
    want = {"model": "m", "alias": "production", "fromAlias": "staging", "gates": [GATE]}
    change = promotions.review(_change(want), recorded, OURS)
    assert change.action is Action.noop and change.blocked is None
    assert sum(promotions.rest.calls.values()) == 0


def test_review_blocks_unknown_model_and_unset_source_alias() -> None:
    promotions = _promotions({}, {})
    missing_model = promotions.review(
        _change({"model": "x", "alias": "production", "version": "1"}, Action.create), None, OURS
    )
    assert missing_model.blocked == "registered model 'x' does not exist in MLflow"
    no_source = promotions.review(_change({"model": "m", "alias": "production", "fromAlias": "staging"}), None, OURS)
    assert no_source.blocked == "alias 'staging' is not set on model 'm'"


def test_live_objects_from_search_results() -> None:
    experiment = live_experiment(
        {
            "experiment_id": "7",
            "name": "t/e",
            "lifecycle_stage": "deleted",
            "tags": [
                {"key": "mlflow.note.content", "value": "d"},
                {"key": "mlflow.sharedViewState", "value": "x"},
                {"key": "team", "value": "a"},
            ],
        }
    )
    assert experiment.manifest["description"] == "d"
    assert experiment.manifest["tags"] == {"team": "a"}
    assert experiment.manifest["lifecycleStage"] == "deleted"
    aliases = live_aliases(
        {
            "name": "m",
            "aliases": [{"alias": "a", "version": "2"}, {"alias": "b", "version": "1"}],
            "tags": [{"key": "mlcp.dev/alias.a.version", "value": "2"}],
        }
    )
    assert [(o.ref.name, o.version, mine) for o, mine in aliases] == [("m@a", "2", True), ("m@b", "1", False)]


def test_artifact_location_differences_are_not_planned() -> None:
    ref = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "t/e")
    change = Change(
        ref, Action.update, "1 differs", None, None, None, 60, diffs=(FieldDiff(("artifactLocation",), "a", "b"),)
    )
    assert without_fixed_fields(change).action is Action.noop


def test_an_alias_off_the_version_mlcp_moved_it_to_is_drift_and_is_moved_back() -> None:
    promotions = _promotions({"auc": 0.95}, {"production": "3"})
    record = InventoryRecord(None, None, None, last_set=LastSet("5", "c" * 40, "alice@example.com"))
    change = promotions.review(
        _change({"model": "m", "alias": "production", "version": "5", "gates": [GATE]}), record, OURS
    )
    assert change.action is Action.update and change.blocked is None
    assert change.drift == (
        "m@production was moved outside mlcp to version 3; mlcp had moved it to version 5 (by alice@example.com, "
        "commit cccccccccccc). MLflow records neither who moved an alias nor when"
    )
    assert change.reason == f"drift: {change.drift}; moves it back to version 5"
    earlier = InventoryRecord(None, None, None, last_set=LastSet("3"))
    moved = promotions.review(
        _change({"model": "m", "alias": "production", "version": "5", "gates": [GATE]}), earlier, OURS
    )
    assert moved.drift is None, "a declared move away from mlcp's last version is no drift"


def test_a_version_tagged_quarantined_in_the_registry_is_refused() -> None:
    rest = CannedRest(
        {
            ("model-versions/get", "5"): {
                "model_version": {
                    "version": "5",
                    "run_id": "r1",
                    "source": "s3://m/5",
                    "tags": [{"key": "mlcp.dev/quarantined", "value": "bias audit"}],
                }
            },
            ("runs/get", "r1"): {"run": {"info": RUN_INFO, "data": {"metrics": [{"key": "auc", "value": 0.99}]}}},
        }
    )
    promotions = Promotions(rest)
    promotions.models = {"m": ModelInfo({"production": "3", "staging": "5"}, {})}
    change = promotions.review(
        _change({"model": "m", "alias": "production", "fromAlias": "staging", "gates": [GATE]}), None, OURS
    )
    assert change.blocked == (
        "version 5 of 'm' is quarantined (registry tag mlcp.dev/quarantined: bias audit); `fromAlias: staging` "
        "resolves to it. Promote another version"
    )


class LiveRegistry(MlflowRest):
    """A registry whose version tags and run metrics change between two passes of one long-lived backend."""

    def __init__(self) -> None:
        super().__init__("http://registry.invalid")
        self.version_tags: list[dict[str, str]] = []
        self.auc = 0.95

    def auth_enabled(self) -> bool | None:
        return False

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        self.calls[path] += 1
        if path == "experiments/search":
            return {"experiments": []}
        if path == "registered-models/search":
            return {"registered_models": [{"name": "m", "aliases": [{"alias": "production", "version": "3"}]}]}
        if path == "model-versions/get":
            return {"model_version": {"version": "5", "run_id": "r1", "source": "s3://m/5", "tags": self.version_tags}}
        if path == "runs/get":
            return {"run": {"info": RUN_INFO, "data": {"metrics": [{"key": "auc", "value": self.auc}]}}}
        raise AssertionError(path)


EXPERIMENT = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "t/e")


def _read(backend: MlflowBackend) -> None:
    """A fresh read, with mlcp's record of tenant t's experiment 7 (the canned registry keeps no record store)."""
    backend.read()
    backend.store.records = {EXPERIMENT: InventoryRecord("Experiment/t/e", "t", "e.yaml", made=Made("7", "s3://e/7"))}


def _pass(backend: MlflowBackend) -> Change:
    """One loop pass's registry part: a fresh read, serving's resolve, then the review (one version read)."""
    _read(backend)
    backend.resolve_version({"model": "m", "alias": "production", "version": "5"})
    [reviewed] = backend.review([_change({"model": "m", "alias": "production", "version": "5", "gates": [GATE]})])
    return reviewed


def test_a_version_quarantined_after_an_earlier_pass_is_refused_by_the_next() -> None:
    # a member's promotion passed on the loop's first pass but did not apply (held, failed); meanwhile the version
    # is found to be trained on leaked data and tagged: the same process must not promote it from what it read then
    rest = LiveRegistry()
    backend = MlflowBackend(rest)
    assert _pass(backend).blocked is None
    assert rest.calls["model-versions/get"] == 1, "within one plan a version is read once"
    rest.version_tags = [{"key": "mlcp.dev/quarantined", "value": "leaked training data"}]
    blocked = _pass(backend).blocked or ""
    assert "quarantined (registry tag mlcp.dev/quarantined: leaked training data)" in blocked


def test_a_metric_that_dropped_after_an_earlier_pass_fails_its_gate_on_the_next() -> None:
    rest = LiveRegistry()
    backend = MlflowBackend(rest)
    assert _pass(backend).blocked is None
    rest.auc = 0.5  # the run was re-evaluated (or its metric overwritten) after the first pass
    assert _pass(backend).blocked == "gate auc >= 0.9 failed: measured 0.5"


def test_a_long_lived_backend_keeps_only_what_the_last_plan_read() -> None:
    # a loop that lives for months sees thousands of versions go by: what it read for a plan is not kept after it
    backend = MlflowBackend(LiveRegistry())
    for version in ("5", "6", "7"):
        _read(backend)
        backend.review([_change({"model": "m", "alias": "production", "version": version, "gates": [GATE]})])
    assert set(backend.promotions._versions) == {("m", "7")}
    assert set(backend.promotions.evidence._verdicts) == {("m", "7", "t")}
