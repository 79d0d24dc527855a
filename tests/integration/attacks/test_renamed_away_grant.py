"""Bob renames vision's experiment away to keep his grant on it after he leaves vision, in a real basic-auth MLflow.

mlcp made vision's experiment and recorded its id; Bob, an `edit` member, holds EDIT there, which lets him
rename it and delete its tags. Grants were kept by experiment name: with the experiment renamed away, mlcp read
no grant on it and made a new experiment under the name, so once an admin removed Bob from vision in git, the
revoke reached the new experiment, never the one holding vision's runs, where Bob kept EDIT for good. Now grants
follow the id mlcp recorded, whatever the experiment is named: the pass makes no other experiment under the name
(it says to rename vision's back), and Bob's removal revokes his grant on vision's experiment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.plans import Action
from tests.integration import test_mlflow_permissions as basic_auth
from tests.integration.mlflow_rest import MlflowError
from tests.integration.test_mlflow_permissions import AuthServer, _repo, create_users, direct, members, tenant

pytestmark = pytest.mark.integration
server = basic_auth.auth_server
"""The basic-auth MLflow of the permissions tests, started once for this module too."""


def test_a_member_who_renamed_the_experiment_away_loses_his_grant_on_it_when_removed(
    server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    create_users(server, prefix, "alice", "bob", "vic")
    alice, bob = f"{prefix}-alice", f"{prefix}-bob"
    name = f"{prefix}/exp"
    repo = _repo(tmp_path, server.uri, prefix, server.admin, members(prefix))
    repo.apply(repo.plan())
    visions = str(server.rest().get("experiments/get-by-name", experiment_name=name)["experiment"]["experiment_id"])
    assert direct(server, bob) == {("experiment", visions): "EDIT"}

    # Bob, as himself: renames it away and drops mlcp's tag from it, so that mlcp no longer finds it
    as_bob = server.rest(bob)
    as_bob.post("experiments/update", experiment_id=visions, new_name=f"{prefix}-bobs")
    as_bob.post("experiments/delete-experiment-tag", experiment_id=visions, key="mlcp.dev/managed-by")

    planned = repo.plan()  # a pass while he is still a member
    [experiment] = [c for c in planned.changes if c.ref.kind == "Experiment"]
    assert experiment.blocked is not None, experiment
    assert f"experiment {visions}, which mlcp created as {name!r}, is now named '{prefix}-bobs'" in experiment.blocked
    assert f"rename experiment {visions} back to {name!r}" in experiment.blocked
    repo.apply(planned)
    with pytest.raises(MlflowError):
        server.rest().get("experiments/get-by-name", experiment_name=name)  # no other made under its name
    assert direct(server, alice) == {("experiment", visions): "MANAGE"}, "vision's grants stay on vision's"

    # an admin removes him from vision in git; the next pass revokes his grant where it is
    repo.write(f"tenants/{repo.tenant}/tenant.yaml", tenant(prefix, f"[{{name: {prefix}-vic, role: view}}]"))
    planned = repo.plan()
    [revoke] = [c for c in planned.changes if c.ref.kind == "ExperimentPermission" and c.ref.name.endswith(bob)]
    assert revoke.action is Action.delete and revoke.blocked is None, revoke
    repo.apply(planned)
    assert ("experiment", visions) not in direct(server, bob), "no grant left on vision's experiment"
    with pytest.raises(MlflowError) as denied:
        as_bob.post("experiments/update", experiment_id=visions, new_name=f"{prefix}-again")
    assert denied.value.status == 403
    assert direct(server, alice) == {("experiment", visions): "MANAGE"}
