"""Bob renames vision's registered model away to keep his grant on it after he leaves, in a real basic-auth MLflow.

mlcp grants vision's people on the model vision promotes: Bob, an `edit` member, holds EDIT, which lets him rename
the model and delete its tags. MLflow moves every grant on a model with its rename. Grants were kept by model
name: with the model renamed away, mlcp read no grant on it ("its model is gone"), so once an admin removed Bob from
vision in git, nothing was revoked, and Bob kept EDIT on the model holding vision's versions (renaming it back later
brought his grant back with it, unknown to mlcp). And anyone may register a new model under the freed name, holding
MANAGE there: mlcp took it for vision's, granted vision's people on it and moved vision's production alias to her
version. Now mlcp records which model it manages under a name (its creation time, which a name does not carry), so
the grants are revoked where the model is, and a model registered under its name is neither granted on nor promoted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.plans import Action
from tests.integration import test_mlflow_permissions as basic_auth
from tests.integration.mlflow_rest import MlflowError
from tests.integration.test_mlflow_backend import alias_version
from tests.integration.test_mlflow_permissions import AuthRepo, AuthServer, _repo, create_users, direct, members, tenant

pytestmark = pytest.mark.integration
server = basic_auth.auth_server
"""The basic-auth MLflow of the permissions tests, started once for this module too."""


def _promoted(server: AuthServer, tmp_path: Path, prefix: str) -> tuple[AuthRepo, str]:
    """vision (named like the prefix) promotes version 1 of its model, applied: Bob holds EDIT on the model."""
    create_users(server, prefix, "alice", "bob", "vic", "mallory")
    model = f"{prefix}-model"
    server.rest().post("registered-models/create", name=model)
    server.rest().post("model-versions/create", name=model, source=f"s3://vision/{model}/1")
    repo = _repo(tmp_path, server.uri, prefix, server.admin, members(prefix))
    repo.write(
        f"tenants/{repo.tenant}/promotions/prod.yaml",
        f"""
        apiVersion: mlcp.dev/v1alpha1
        kind: ModelPromotion
        metadata: {{name: prod}}
        spec: {{model: {model}, alias: production, version: 1}}
        """,
    )
    repo.apply(repo.plan())
    assert direct(server, f"{prefix}-bob").get(("registered_model", model)) == "EDIT"
    return repo, model


def _rename_away(server: AuthServer, bob: str, model: str, new_name: str) -> None:
    """Bob, as himself: renames the model and deletes every tag mlcp put on it."""
    as_bob = server.rest(bob)
    as_bob.post("registered-models/rename", name=model, new_name=new_name)
    tags = server.rest().get("registered-models/get", name=new_name)["registered_model"].get("tags") or []
    for tag in tags:
        if str(tag["key"]).startswith("mlcp.dev/"):
            as_bob.call("DELETE", "registered-models/delete-tag", {"name": new_name, "key": tag["key"]})


def test_a_member_who_renamed_the_model_away_loses_his_grant_on_it_when_removed(
    server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    repo, model = _promoted(server, tmp_path, prefix)
    bob, bobs = f"{prefix}-bob", f"{prefix}-bobs"
    _rename_away(server, bob, model, bobs)
    assert direct(server, bob).get(("registered_model", bobs)) == "EDIT", "MLflow moved his grant with the rename"

    planned = repo.plan()  # a pass while he is still a member
    [alias] = [c for c in planned.changes if c.ref.kind == "ModelAlias"]
    assert alias.blocked is not None and f"now named {bobs!r}" in alias.blocked, alias
    assert f"rename {bobs!r} back to {model!r}" in alias.blocked

    # an admin removes him from vision in git; the next pass revokes his grant where the model is
    repo.write(f"tenants/{repo.tenant}/tenant.yaml", tenant(prefix, f"[{{name: {prefix}-vic, role: view}}]"))
    planned = repo.plan()
    [revoke] = [c for c in planned.changes if c.ref.kind == "RegisteredModelPermission" and c.ref.name.endswith(bob)]
    assert revoke.action is Action.delete and revoke.blocked is None, revoke
    repo.apply(planned)
    assert ("registered_model", bobs) not in direct(server, bob), "no grant left on vision's model"
    with pytest.raises(MlflowError) as denied:
        server.rest(bob).post("registered-models/rename", name=bobs, new_name=model)
    assert denied.value.status == 403
    assert direct(server, f"{prefix}-alice").get(("registered_model", bobs)) == "MANAGE", "vision's grants stay"


def test_a_model_registered_under_the_name_of_one_renamed_away_is_neither_granted_on_nor_promoted(
    server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    repo, model = _promoted(server, tmp_path, prefix)
    bob, mallory = f"{prefix}-bob", f"{prefix}-mallory"
    _rename_away(server, bob, model, f"{prefix}-bobs")
    # Mallory, any MLflow user: registers her own model under the freed name, with a version 1 of her choosing
    as_mallory = server.rest(mallory)
    as_mallory.post("registered-models/create", name=model)
    as_mallory.post("model-versions/create", name=model, source="s3://mallory/model")
    assert direct(server, mallory) == {("registered_model", model): "MANAGE"}

    planned = repo.plan()
    mine = [c for c in planned.changes if c.ref.kind in ("ModelAlias", "RegisteredModelPermission")]
    assert mine and all(c.blocked for c in mine if c.action is not Action.noop), mine
    assert not [c for c in mine if c.action is Action.noop], "no change on her model counts as done"
    [alias] = [c for c in mine if c.ref.kind == "ModelAlias"]
    assert alias.blocked is not None and "not the one mlcp manages" in alias.blocked, alias
    repo.apply(planned)
    assert alias_version(server.rest(), model) is None, "vision's production never points into her model"
    for person in ("alice", "vic"):
        assert ("registered_model", model) not in direct(server, f"{prefix}-{person}"), "nobody granted on hers"
    assert direct(server, f"{prefix}-alice").get(("registered_model", f"{prefix}-bobs")) == "MANAGE"
