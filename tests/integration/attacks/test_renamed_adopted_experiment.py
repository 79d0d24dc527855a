"""Carol, of tenant nlp, takes the name of vision's adopted experiment for one of her own, in a real basic-auth MLflow.

vision's experiment was made by hand (by Alice, its owner) and adopted by mlcp, which grants vision's people on it;
Carol, nlp's member lent to vision as an `edit` member, holds EDIT there, which lets her rename it (MLflow keeps a
deleted experiment's name, so a rename is what frees one). She renames it away, creates her own under its name at
a place of her choosing, where MLflow makes her MANAGE, and copies its tags so it looks like vision's. mlcp matched
adopted experiments by name: its next pass granted vision's people on hers, so vision logged its runs where Carol
keeps MANAGE once she is gone from vision. Now mlcp knows vision's experiment by the id it recorded at the
adoption: the pass reports the conflict, grants nothing on hers, and her experiment lends vision no served home.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.cli import plan_view
from controlplane.plans import Action
from controlplane.rendering.mlflow_objects import SYSTEM
from reconciler import servedhomes
from reconciler.backends.base import Status
from tests.integration import test_mlflow_permissions as basic_auth
from tests.integration.test_mlflow_permissions import AuthServer, _repo, create_users, direct, members

pytestmark = pytest.mark.integration
server = basic_auth.auth_server
"""The basic-auth MLflow of the permissions tests, started once for this module too."""
LOOT = "s3://carol-bucket/loot"


def test_an_experiment_given_the_name_of_visions_adopted_one_is_a_conflict_not_visions(
    server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    create_users(server, prefix, "alice", "bob", "vic", "carol")
    alice, bob, carol = f"{prefix}-alice", f"{prefix}-bob", f"{prefix}-carol"
    name = f"{prefix}/exp"
    tagged = [{"key": "mlcp.dev/managed-by", "value": "mlcp"}]
    visions = str(server.rest(alice).post("experiments/create", name=name, tags=tagged)["experiment_id"])
    repo = _repo(tmp_path, server.uri, prefix, server.admin, members(prefix, f"{{name: {carol}, role: edit}}"))
    report = repo.apply(repo.plan())
    assert Status.failed not in {o.status for o in report.outcomes}, report.outcomes
    assert direct(server, carol) == {("experiment", visions): "EDIT"}, "adopted: vision's people granted"

    # Carol, as herself: vision's renamed away, hers under its name, at her place, with its tags
    as_carol = server.rest(carol)
    as_carol.post("experiments/update", experiment_id=visions, new_name=f"{name}-archived")
    found = as_carol.get("experiments/get", experiment_id=visions)["experiment"]
    tags = [t for t in found.get("tags") or [] if not t["key"].startswith("mlflow.")]
    hers = str(as_carol.post("experiments/create", name=name, artifact_location=LOOT, tags=tags)["experiment_id"])
    assert direct(server, carol)[("experiment", hers)] == "MANAGE", "MLflow makes her its manager"

    planned = repo.plan()
    [experiment] = [c for c in planned.changes if c.ref.kind == "Experiment"]
    assert experiment.blocked is not None and experiment.action is not Action.noop
    said = f"experiment {name!r} is now id {hers} (at {LOOT!r}), not experiment {visions} that mlcp took over"
    assert said in experiment.blocked, experiment.blocked
    assert f"now named '{name}-archived'" in experiment.blocked and "rename experiment" in experiment.blocked
    grants = [c for c in planned.changes if c.ref.kind == "ExperimentPermission"]
    assert grants and all(c.blocked and said in c.blocked for c in grants), grants
    shown = "\n".join(text for text, _ in plan_view.text_lines(planned))
    assert f"not experiment {visions} that mlcp took over" in shown, "the reviewer sees the conflict"

    report = repo.apply(planned)
    assert Status.applied not in {o.status for o in report.outcomes}, report.outcomes
    for person in (alice, bob, f"{prefix}-vic"):
        assert ("experiment", hers) not in direct(server, person), f"{person} granted nothing on Carol's"
    backend = repo.backend()
    state = backend.read()
    ref = experiment.ref
    assert backend.store.records[ref].taken is not None and backend.store.records[ref].taken.id == visions
    homes = servedhomes.homes((), {SYSTEM: state})
    assert not homes.holds(prefix, f"{LOOT}/model") and LOOT not in homes.roots(prefix), "lends vision nothing"
