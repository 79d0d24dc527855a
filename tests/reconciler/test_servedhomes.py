"""Whose files a promotion may serve comes from the trusted base's roots and mlcp's records, never from tags."""

from __future__ import annotations

from controlplane.inventory import Inventory, InventoryRecord, Made, TakenOver
from controlplane.plans import LiveObject, ObjectRef
from controlplane.rendering.mlflow_objects import API_VERSION, EXPERIMENT, SYSTEM
from reconciler.backends.base import LiveState
from reconciler.servedhomes import homes

TEMPLATES = ("s3://ml-artifacts/{tenant}/",)


def _experiment(name: str, location: str, experiment_id: str | None = None) -> LiveObject:
    """An experiment as the backend reads it; its id is its location's last segment unless given (MLflow's shape
    for an experiment created without a location: `<default root>/<id>`)."""
    ref = ObjectRef(SYSTEM, API_VERSION, EXPERIMENT, None, name)
    number = experiment_id or location.rstrip("/").rpartition("/")[2]
    manifest = {"name": name, "artifactLocation": location, "tags": {"team": "vision"}, "experimentId": number}
    return LiveObject(ref, manifest, "1")


def _state(*entries: tuple[LiveObject, str | None], made: bool = True) -> dict[str, LiveState]:
    """The registry as read: each experiment with mlcp's record of it for tenant `t` (none: no record), recorded as
    one mlcp created at its id and location (`made`), or adopted."""
    objects = {obj.ref: obj for obj, _ in entries}
    records = {
        obj.ref: InventoryRecord(
            f"Experiment/{t}/x",
            t,
            "x.yaml",
            made=Made(obj.manifest["experimentId"], obj.manifest["artifactLocation"]) if made else None,
        )
        for obj, t in entries
        if t is not None
    }
    return {SYSTEM: LiveState(objects, Inventory(frozenset(records), records=records))}


def test_an_experiment_mlcp_records_as_the_tenants_holds_its_files() -> None:
    found = homes(TEMPLATES, _state((_experiment("nlp/sentiment", "s3://mlflow-default/12"), "nlp")))
    assert found.holds("nlp", "s3://mlflow-default/12/abc/artifacts/model")
    assert not found.holds("nlp", "s3://mlflow-default/1/abc/artifacts/model"), "12 is not 1"
    assert not found.holds("vision", "s3://mlflow-default/12/abc/artifacts/model")


def test_an_experiment_mlcp_does_not_record_holds_nothing() -> None:
    """A hand-made experiment named `nlp/...` (a name is anyone's to choose) is no record of mlcp's."""
    found = homes(TEMPLATES, _state((_experiment("nlp/mine", "s3://vision-bucket/models"), None)))
    assert not found.holds("nlp", "s3://vision-bucket/models/7")


def test_an_experiment_of_the_tenant_in_another_tenants_root_holds_nothing() -> None:
    """Created (or adopted) before the roots were set, nlp's experiment at vision's root lends nlp vision's files."""
    found = homes(TEMPLATES, _state((_experiment("nlp/old", "s3://ml-artifacts/vision/old"), "nlp")))
    assert not found.holds("nlp", "s3://ml-artifacts/vision/old/model")
    assert found.holds("nlp", "s3://ml-artifacts/nlp/model"), "its own root still holds its files"


def test_an_experiment_made_by_hand_at_another_tenants_location_and_adopted_holds_nothing() -> None:
    """Carol makes `nlp/steal` at vision's experiment's location (or inside it), tags it for mlcp to adopt and
    declares it in nlp's folder: mlcp's record then says it is nlp's, but not that mlcp created it."""
    vision = _state((_experiment("vision/detector", "s3://mlflow-default/5"), "vision"))
    stolen = _state(
        (_experiment("nlp/steal", "s3://mlflow-default/5", experiment_id="9"), "nlp"),
        (_experiment("nlp/inside", "s3://mlflow-default/5/models/10"), "nlp"),
        (_experiment("nlp/default", "s3://mlflow-default/11"), "nlp"),
        made=False,
    )
    found = homes(TEMPLATES, {SYSTEM: _merged(vision[SYSTEM], stolen[SYSTEM])})
    assert not found.holds("nlp", "s3://mlflow-default/5/abc/artifacts/model")
    assert not found.holds("nlp", "s3://mlflow-default/5/models/10/artifacts/model")
    assert not found.holds("nlp", "s3://mlflow-default/11/abc/artifacts/model"), "adopted, even of MLflow's shape"
    assert found.holds("vision", "s3://mlflow-default/5/abc/artifacts/model"), "vision's own still serves"


def test_a_tagged_experiment_at_a_buckets_top_takes_nothing_from_anothers() -> None:
    """Carol makes an experiment at `s3://mlflow-default/` (the default root's top, a parent of every experiment
    MLflow places there), tagged as mlcp's, and declares it in nlp's folder (or not at all: mlcp reads every tagged
    experiment): vision's experiment, which mlcp created at `s3://mlflow-default/5`, still holds vision's files."""
    vision = _state((_experiment("vision/detector", "s3://mlflow-default/5"), "vision"))[SYSTEM]
    top = _experiment("nlp/everything", "s3://mlflow-default/", experiment_id="9")
    unrecorded = LiveState({top.ref: top}, Inventory())
    adopted = _state((top, "nlp"), made=False)[SYSTEM]
    for carols in (unrecorded, adopted):
        found = homes(TEMPLATES, {SYSTEM: _merged(vision, carols)})
        assert found.holds("vision", "s3://mlflow-default/5/abc/artifacts/model")
        assert not found.holds("nlp", "s3://mlflow-default/5/abc/artifacts/model")


def test_an_experiment_mlcp_made_whose_name_now_names_another_holds_nothing() -> None:
    """mlcp made `nlp/sentiment` (id 12); someone renamed it away and made another `nlp/sentiment` (id 13) at
    vision's experiment's place, tagged: the record's experiment is not the live one."""
    record = InventoryRecord("Experiment/nlp/x", "nlp", "x.yaml", made=Made("12", "s3://mlflow-default/12"))
    for live in (
        _experiment("nlp/sentiment", "s3://mlflow-default/5", experiment_id="13"),
        _experiment("nlp/sentiment", "s3://mlflow-default/13"),
        _experiment("nlp/sentiment", "s3://mlflow-default/5", experiment_id="12"),  # a location changed in its DB
    ):
        state = {SYSTEM: LiveState({live.ref: live}, Inventory(frozenset({live.ref}), records={live.ref: record}))}
        assert homes(TEMPLATES, state).experiments == {}, live.manifest


def _merged(*states: LiveState) -> LiveState:
    """One registry read holding every experiment and record of `states`."""
    objects = {ref: obj for state in states for ref, obj in state.objects.items()}
    records = {ref: rec for state in states for ref, rec in state.inventory.records.items()}
    return LiveState(objects, Inventory(frozenset(records), records=records))


def test_an_unreadable_record_holds_nothing() -> None:
    obj = _experiment("nlp/sentiment", "s3://mlflow-default/12")
    record = InventoryRecord(None, None, None, error="unreadable")
    state = {SYSTEM: LiveState({obj.ref: obj}, Inventory(frozenset({obj.ref}), records={obj.ref: record}))}
    assert homes(TEMPLATES, state).experiments == {}


def test_a_claim_of_the_tenants_own_namespace_is_its_own() -> None:
    """KServe mounts a `pvc://` claim from the InferenceService's namespace: the tenant's, whatever its name."""
    found = homes(TEMPLATES, {})
    assert found.holds("nlp", "pvc://models/sentiment/3")
    assert not found.holds("nlp", "pvc://models/../../etc"), "no single meaning: under nothing"


def test_an_experiment_recorded_as_taken_over_holds_nothing_even_with_its_very_id() -> None:
    """mlcp records the id of an experiment it adopts (`taken`): which experiment is the tenant's, never where its
    files are, as someone else chose its location."""
    obj = _experiment("nlp/adopted", "s3://mlflow-default/11")
    record = InventoryRecord("Experiment/nlp/x", "nlp", "x.yaml", taken=TakenOver("11", "s3://mlflow-default/11"))
    state = LiveState({obj.ref: obj}, Inventory(frozenset({obj.ref}), records={obj.ref: record}))
    assert not homes(TEMPLATES, {SYSTEM: state}).holds("nlp", "s3://mlflow-default/11/abc/artifacts/model")
