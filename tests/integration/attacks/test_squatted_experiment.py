"""Carol squats another tenant's experiment (or model) in a real basic-auth MLflow, to keep a hold on its data.

MLflow lets any user create an experiment under any name, and its creator holds MANAGE on it. Carol (an MLflow
user, not in the tenant) creates `<tenant>/exp` before the tenant declares it, tagged `mlcp.dev/managed-by=mlcp`
as the docs once said to do to have mlcp adopt an experiment. mlcp took it over, granted the tenant's people, and
left Carol's MANAGE alone (a grant made outside mlcp): every run and artifact the tenant then logged was hers to
read, delete and share. Now the plan blocks the adoption naming her grant, the apply writes nothing on it (no
tags, no grants, no record), and only once an MLflow admin revokes her grant is it adopted. The same for a
model she registers under the tenant's name: she makes its versions, so the tenant's promotion would serve hers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.plans import Action
from reconciler.backends.base import Status
from tests.integration import test_mlflow_permissions as basic_auth
from tests.integration.test_mlflow_backend import register_ungoverned
from tests.integration.test_mlflow_permissions import AuthServer, _repo, create_users, direct, members

pytestmark = pytest.mark.integration
server = basic_auth.auth_server
"""The basic-auth MLflow of the permissions tests, started once for this module too."""
PROMOTION = """
apiVersion: mlcp.dev/v1alpha1
kind: ModelPromotion
metadata: {{name: prod}}
spec: {{model: {model}, alias: production, version: 1}}
"""


def test_a_squatted_experiment_is_not_adopted_while_its_creator_keeps_manage(
    server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    create_users(server, prefix, "alice", "bob", "vic", "carol")
    carol = f"{prefix}-carol"
    name = f"{prefix}/exp"
    made = server.rest(carol).post(
        "experiments/create", name=name, tags=[{"key": "mlcp.dev/managed-by", "value": "mlcp"}]
    )
    exp_id = str(made["experiment_id"])
    assert direct(server, carol) == {("experiment", exp_id): "MANAGE"}, "MLflow gives its creator MANAGE"

    repo = _repo(tmp_path, server.uri, prefix, server.admin, members(prefix))
    planned = repo.plan()
    [adopt] = [c for c in planned.changes if c.ref.kind == "Experiment"]
    assert adopt.blocked and f"{carol} (MANAGE) hold grants on it that the tenant does not declare" in adopt.blocked
    report = repo.apply(planned)
    assert Status.applied not in {o.status for o in report.outcomes if o.change.ref.kind == "Experiment"}
    found = server.rest().get("experiments/get", experiment_id=exp_id)["experiment"]
    assert "mlcp.dev/tenant" not in {t["key"] for t in found.get("tags") or []}, "nothing written on Carol's"
    assert direct(server, f"{prefix}-bob") == {}, "no grant of the tenant's on it"

    target = {"username": carol, "resource_type": "experiment", "resource_id": exp_id}
    server.grants_api().post("users/permissions/revoke", **target)  # an MLflow admin takes hers away
    again = repo.plan()
    [adopted] = [c for c in again.changes if c.ref.kind == "Experiment"]
    assert adopted.blocked is None and adopted.action is Action.update
    assert Status.failed not in {o.status for o in repo.apply(again).outcomes}
    assert direct(server, f"{prefix}-bob") == {("experiment", exp_id): "EDIT"}


def test_a_model_registered_by_someone_outside_the_tenant_is_not_promoted_while_she_keeps_manage(
    server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    create_users(server, prefix, "alice", "bob", "vic", "carol")
    carol = f"{prefix}-carol"
    model = register_ungoverned(server.rest(carol), prefix, [{"auc": 0.95}])  # hers: she makes every version in it
    assert direct(server, carol)[("registered_model", model)] == "MANAGE"
    repo = _repo(tmp_path, server.uri, prefix, server.admin, members(prefix))
    repo.write(f"tenants/{prefix}/promotions/prod.yaml", PROMOTION.format(model=model))
    planned = repo.plan()
    [promote] = [c for c in planned.changes if c.ref.kind == "ModelAlias"]
    assert promote.blocked and f"{carol} (MANAGE) hold grants on it" in promote.blocked
    assert all(c.blocked for c in planned.changes if c.ref.kind == "RegisteredModelPermission")
    repo.apply(planned)
    found = server.rest().get("registered-models/get", name=model)["registered_model"]
    assert not found.get("aliases"), "no alias moved on Carol's model"

    target = {"username": carol, "resource_type": "registered_model", "resource_id": model}
    server.grants_api().post("users/permissions/revoke", **target)
    report = repo.apply(repo.plan())
    assert {o.status for o in report.outcomes} == {Status.applied}, report.outcomes
