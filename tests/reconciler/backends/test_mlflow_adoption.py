"""Carol, a member of tenant nlp with an MLflow account, squats tenant vision's experiment before vision declares it.

She creates `vision/detector` herself (so she holds MANAGE on it as its creator), tags it
`mlcp.dev/managed-by=mlcp`, and waits: when vision declares the experiment, mlcp took it over and vision logged
every run there, readable, deletable and grantable by Carol. An adoption is now blocked while anyone the tenant does
not grant there holds a grant on it. The in-memory MLflow keeps grants as MLflow 3's unified API lists them;
tests/integration/attacks/test_squatted_experiment.py runs the attack against a real basic-auth server.
"""

from __future__ import annotations

from dataclasses import replace

from controlplane.inventory import InventoryRecord, TakenOver
from controlplane.plans import Action, Change, ObjectRef, SpecKey
from reconciler.backends import mlflow_adoption
from reconciler.backends.mlflow_permissions import Permissions
from tests.reconciler.backends.lossy_mlflow import LossyMlflow

EXP = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "vision/detector")
GRANT = ObjectRef("mlflow", "mlflow/v1", "ExperimentPermission", None, "vision/detector#bob")
RECORD = InventoryRecord("Experiment/vision/detector", "vision", "tenants/vision/experiments/detector.yaml")
TAKEN = replace(RECORD, taken=TakenOver("7", "s3://b/7"))


def _permissions(grants: dict[str, str], auth: bool = True) -> Permissions:
    rest = LossyMlflow()
    rest.grants = {(user, "experiment", "7"): level for user, level in grants.items()}
    permissions = Permissions(rest)
    permissions.auth, permissions.users = auth, frozenset({"carol", "bob", "mlcp-admin", "dave"})
    permissions.experiment_ids = {EXP.name: "7"}
    return permissions


def _adopt(action: Action = Action.update) -> Change:
    desired = {"name": EXP.name, "tags": {}}
    return Change(EXP, action, "paired", None, "vision", None, 60, desired=desired, live_version="v")


def _grant_to_bob() -> Change:
    desired = {"experiment": EXP.name, "user": "bob", "permission": "EDIT"}
    return Change(GRANT, Action.create, "paired", None, "vision", None, 70, desired=desired)


def test_a_squatted_experiment_is_not_adopted_while_its_creator_keeps_manage() -> None:
    permissions = _permissions({"carol": "MANAGE", "bob": "EDIT", "mlcp-admin": "MANAGE"})
    for action in (Action.update, Action.noop):
        [adopted, grant] = mlflow_adoption.judge([_adopt(action), _grant_to_bob()], {}, permissions, "mlcp-admin")
        assert (
            adopted.blocked and "carol (MANAGE) hold grants on it that the tenant does not declare" in adopted.blocked
        )
        assert "bob" not in adopted.blocked and "mlcp-admin" not in adopted.blocked, "declared people and mlcp"
        assert adopted.action is Action.update, "a no-op would record it as mlcp's"
        assert grant.blocked and "waits for mlcp to take over experiment 'vision/detector'" in grant.blocked


def test_an_experiment_nobody_else_holds_grants_on_is_adopted() -> None:
    permissions = _permissions({"bob": "EDIT", "mlcp-admin": "MANAGE"})
    [adopted, _] = mlflow_adoption.judge([_adopt(), _grant_to_bob()], {}, permissions, "mlcp-admin")
    assert adopted.blocked is None


def test_mlcps_own_experiments_and_servers_without_auth_are_not_judged() -> None:
    permissions = _permissions({"carol": "MANAGE"})
    [recorded] = mlflow_adoption.judge([_adopt()], {EXP: TAKEN}, permissions, "mlcp-admin")
    assert recorded.blocked is None, "mlcp took it over (its id): grants made by hand are left alone, as ever"
    [older] = mlflow_adoption.judge([_adopt()], {EXP: RECORD}, permissions, "mlcp-admin")
    assert older.blocked and "carol (MANAGE)" in older.blocked, "a record without an id is judged again"
    [created] = mlflow_adoption.judge([_adopt(Action.create)], {}, permissions, "mlcp-admin")
    assert created.blocked is None, "nothing live to take over"
    no_auth = _permissions({"carol": "MANAGE"}, auth=False)
    [open_server] = mlflow_adoption.judge([_adopt()], {}, no_auth, "mlcp-admin")
    assert open_server.blocked is None and sum(no_auth.rest.calls.values()) == 0


MODEL_ALIAS = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "vision-detector@production")
MODEL_GRANT = ObjectRef("mlflow", "mlflow/v1", "RegisteredModelPermission", None, "vision-detector#bob")


def _promote(action: Action = Action.create) -> Change:
    desired = {"model": "vision-detector", "alias": "production", "version": "2"}
    spec = SpecKey.parse("ModelPromotion/vision/detector")
    return Change(MODEL_ALIAS, action, "moves", spec, "vision", None, 65, desired=desired)


def test_a_model_registered_by_someone_outside_the_tenant_is_not_promoted_while_they_keep_their_grant() -> None:
    permissions = _permissions({})
    permissions.rest.grants = {("carol", "registered_model", "vision-detector"): "MANAGE"}  # type: ignore[attr-defined]
    grant = Change(
        MODEL_GRANT,
        Action.create,
        "paired",
        None,
        "vision",
        None,
        70,
        desired={"model": "vision-detector", "user": "bob", "permission": "EDIT"},
    )
    [promoted, granted] = mlflow_adoption.judge([_promote(), grant], {}, permissions, "mlcp-admin")
    assert promoted.blocked and promoted.blocked.startswith("registered model 'vision-detector': ")
    assert "carol (MANAGE) hold grants on it" in promoted.blocked, "she could make the versions it promotes"
    assert granted.blocked and "waits for mlcp to take over registered model 'vision-detector'" in granted.blocked
    governed = {ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "vision-detector@staging"): RECORD}
    [later] = mlflow_adoption.judge([_promote(Action.update)], governed, permissions, "mlcp-admin")
    assert later.blocked is None, "a model mlcp already governs is not judged again"
    permissions.admins = frozenset({"carol"})
    [admin] = mlflow_adoption.judge([_promote()], {}, permissions, "mlcp-admin")
    assert admin.blocked is None, "an MLflow admin may do anything anyway"
