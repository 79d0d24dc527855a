"""Unit tests for MLflow permission review: no auth → no-ops, unknown users blocked, grants read per user.

`MlflowRest.get` is replaced by canned answers; the integration tests run the
same paths against a real basic-auth server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.cli import plan_view
from controlplane.plans import Action, Change, FieldDiff, ObjectRef, Plan, SpecKey, SystemStatus
from reconciler.backends.base import ApplyOptions, BackendError, Status
from reconciler.backends.mlflow_permissions import V3, Permissions, grant_tag, recorded_grants
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest
from tests.reconciler.backends.lossy_mlflow import LossyMlflow

REF = ObjectRef("mlflow", "mlflow/v1", "ExperimentPermission", None, "t/exp#alice@x")
WANT = {"experiment": "t/exp", "user": "alice@x", "permission": "MANAGE"}


class CannedRest(MlflowRest):
    def __init__(self, users: list[str], grants: dict[str, list[dict[str, str]]]) -> None:
        super().__init__("http://registry.invalid")
        self.users = users
        self.grants = grants

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        self.calls[path] += 1
        if path == "users/list":
            return {"users": [{"username": u} for u in self.users]}
        assert path == V3 + "users/permissions/list"
        return {"permissions": self.grants.get(str(query["username"]), [])}


def _row(resource_id: str, level: str, role: str = "__user_1__") -> dict[str, str]:
    return {"role_name": role, "resource_type": "experiment", "resource_pattern": resource_id, "permission": level}


def _permissions(auth: bool, users: list[str], grants: dict[str, list[dict[str, str]]] | None = None) -> Permissions:
    permissions = Permissions(CannedRest(users, grants or {}))
    permissions.auth = auth
    permissions.experiment_ids = {"t/exp": "7"}
    return permissions


def _create(want: dict[str, Any] = WANT) -> Change:
    return Change(REF, Action.create, "not present", SpecKey.parse("Experiment/t/exp"), "t", "e.yaml", 61, desired=want)


def test_without_auth_every_permission_is_a_noop_and_nothing_is_read() -> None:
    permissions = _permissions(False, [])
    assert permissions.read([("t/exp", "7", {grant_tag("alice@x"): "{}"})], []) == {}
    reviewed = permissions.review(_create())
    assert reviewed.action is Action.noop and reviewed.blocked is None
    assert "without auth" in reviewed.reason
    assert sum(permissions.rest.calls.values()) == 0


def test_a_user_mlflow_does_not_know_is_blocked_with_the_reason() -> None:
    permissions = _permissions(True, ["bob@x"])
    permissions.read([], [])
    reviewed = permissions.review(_create())
    assert reviewed.action is Action.create
    assert reviewed.blocked is not None and "user alice@x does not exist in MLflow" in reviewed.blocked


def test_a_model_that_does_not_exist_is_blocked() -> None:
    permissions = _permissions(True, ["alice@x"])
    permissions.read([], [])
    ref = ObjectRef("mlflow", "mlflow/v1", "RegisteredModelPermission", None, "m#alice@x")
    change = Change(ref, Action.create, "", SpecKey.parse("ModelPromotion/t/p"), "t", "p.yaml", 66,
                    desired={"model": "m", "user": "alice@x", "permission": "MANAGE"})  # fmt: skip
    assert permissions.review(change).blocked == "registered model 'm' does not exist in MLflow"


def test_create_says_what_the_user_has_now() -> None:
    permissions = _permissions(True, ["alice@x"], {"alice@x": [_row("7", "READ"), _row("7", "MANAGE", "team-role")]})
    permissions.read([], [])
    assert permissions.review(_create()).reason == "grants MANAGE on t/exp to alice@x (has READ, granted outside mlcp)"
    same = _permissions(True, ["alice@x"], {"alice@x": [_row("7", "MANAGE")]})
    same.read([], [])
    assert "already has MANAGE" in same.review(_create()).reason


def test_recorded_grants_become_owned_live_objects_with_the_real_level() -> None:
    record = json.dumps({"user": "alice@x", "permission": "MANAGE", "tenant": "t", "source": "e.yaml"})
    tags = {grant_tag("alice@x"): record, grant_tag("mallory@x"): record, "other": "x"}
    permissions = _permissions(True, ["alice@x"], {"alice@x": [_row("7", "EDIT")]})
    live = permissions.read([("t/exp", "7", tags)], [])
    assert list(live) == [REF]  # the record under mallory's key names alice: ignored
    found = live[REF]
    assert found.manifest["permission"] == "EDIT" and found.version == "EDIT"
    assert "metadata" not in found.manifest, "whose a grant is comes from mlcp's inventory, not from editable tags"
    assert permissions.rest.calls == {"users/list": 1, V3 + "users/permissions/list": 1}


def test_a_grant_mlcps_record_has_is_read_without_its_tag() -> None:
    """Anyone with EDIT deletes the tag: the grant mlcp recorded is still its own, at the level MLflow says."""
    model_ref = ObjectRef("mlflow", "mlflow/v1", "RegisteredModelPermission", None, "m#alice@x")
    gone = ObjectRef("mlflow", "mlflow/v1", "ExperimentPermission", None, "t/gone#alice@x")
    permissions = _permissions(True, ["alice@x"], {"alice@x": [_row("7", "EDIT")]})
    permissions.models = frozenset({"m"})
    live = permissions.read([("t/exp", "7", {})], [("m", {})], [REF, model_ref, gone])
    assert sorted(live) == sorted([REF, model_ref]), "no experiment t/gone: nothing to hold a grant on"
    assert live[REF].manifest == {"experiment": "t/exp", "user": "alice@x", "permission": "EDIT"}
    assert live[model_ref].version == "none", "revoked by hand: a grant of none, which a removal revokes"


def test_update_reason_names_old_and_new_level() -> None:
    permissions = _permissions(True, ["alice@x"])
    permissions.read([], [])
    spec = SpecKey("Experiment", "t", "exp")
    change = Change(REF, Action.update, "1 managed field(s) differ", spec, "t", "e.yaml", 61,
                    diffs=(FieldDiff(("permission",), "EDIT", "MANAGE"),), desired=WANT)  # fmt: skip
    assert permissions.review(change).reason == "alice@x has EDIT on t/exp, gets MANAGE"


def test_malformed_records_are_ignored() -> None:
    assert recorded_grants({grant_tag("a"): "not json", grant_tag("b"): "[1]", "x": "{}"}) == []


class NotAdmin(CannedRest):
    def get(self, path: str, **query: Any) -> dict[str, Any]:
        raise MlflowApiError(403, "PERMISSION_DENIED", "Permission denied")


def test_a_non_admin_tracking_user_is_told_to_be_an_admin() -> None:
    permissions = Permissions(NotAdmin([], {}))
    permissions.auth = True
    with pytest.raises(BackendError, match="must be an admin to manage permissions"):
        permissions.read([], [])


def test_system_notes_show_in_text_markdown_and_survive_json() -> None:
    status = SystemStatus("mlflow", "http://r", True, notes=("no auth: MLflow enforces no permissions",))
    planned = Plan(changes=(), systems=(status,), meta={"registryAuth": False})
    assert ("  mlflow at http://r: no auth: MLflow enforces no permissions", "dim") in plan_view.text_lines(planned)
    assert "> **mlflow** at `http://r`: no auth" in plan_view.markdown(planned)
    again = Plan.from_dict(json.loads(planned.to_json()))
    assert again.systems == (status,) and again.meta["registryAuth"] is False
    assert "notes" not in Plan(changes=(), systems=(SystemStatus("k", "t", True),)).to_dict()["systems"][0]


# -- grants over a network that loses answers ----------------------------------------------------------------

MODEL_GRANT = ObjectRef("mlflow", "mlflow/v1", "RegisteredModelPermission", None, "t-model#bob")
BOB = ("bob", "registered_model", "t-model")


def _grant(level: str, action: Action = Action.create) -> Change:
    want = {"model": "t-model", "user": "bob", "permission": level}
    return Change(MODEL_GRANT, action, "grant", SpecKey.parse("ModelPromotion/t/p"), "t", "p.yaml", 66, desired=want)


def test_a_grant_whose_answer_was_lost_is_granted_not_unchanged() -> None:
    # before: the retry's RESOURCE_ALREADY_EXISTS was reported as "permission of bob on t-model unchanged", and
    # the grant mlcp had just made was never recorded as mlcp's
    rest = LossyMlflow(V3 + "users/permissions/grant")
    outcome = Permissions(rest).apply(_grant("EDIT"), ApplyOptions())
    assert rest.grants == {BOB: "EDIT"} and outcome.status is Status.applied, outcome.message
    assert json.loads(rest.model_tags["t-model"][grant_tag("bob")])["permission"] == "EDIT", "recorded as mlcp's"


def test_a_grant_refused_after_its_revoke_says_the_user_was_left_without_one() -> None:
    rest = LossyMlflow()
    rest.grants[BOB] = "READ"
    rest.refuse[V3 + "users/permissions/grant"] = MlflowApiError(400, "INVALID_PARAMETER_VALUE", "no such level")
    outcome = Permissions(rest).apply(_grant("MANAGE", Action.update), ApplyOptions())
    assert rest.grants == {}
    assert outcome.status is Status.failed and not outcome.uncertain
    assert outcome.message.startswith("revoked READ of bob on t-model; grant failed: MANAGE was not granted (")
    assert outcome.message.endswith("bob has no direct grant on t-model until the next apply puts it back")
    assert "unchanged" not in outcome.message


def test_a_grant_after_its_revoke_that_got_no_answer_may_have_happened() -> None:
    rest = LossyMlflow(V3 + "users/permissions/grant", attempts=1)
    rest.grants[BOB] = "READ"
    outcome = Permissions(rest).apply(_grant("MANAGE", Action.update), ApplyOptions())
    assert outcome.status is Status.failed and outcome.uncertain
    assert outcome.message.startswith("revoked READ of bob on t-model; granting MANAGE to bob on t-model got no answer")


def test_a_revoke_whose_answer_was_lost_is_a_revoke() -> None:
    rest = LossyMlflow(V3 + "users/permissions/revoke")
    rest.grants[BOB] = "EDIT"
    rest.model_tags["t-model"] = {grant_tag("bob"): "{}"}
    revoke = Change(MODEL_GRANT, Action.delete, "removed", SpecKey.parse("ModelPromotion/t/p"), "t", "p.yaml", 66)
    outcome = Permissions(rest).apply(revoke, ApplyOptions())
    assert outcome.status is Status.deleted and outcome.message == "revoked EDIT of bob", outcome.message
    assert rest.grants == {} and rest.model_tags["t-model"] == {}
    # a refusal of the revoke, with no lost answer before it, is still a failure
    rest.grants[BOB] = "EDIT"
    rest.refuse[V3 + "users/permissions/revoke"] = MlflowApiError(403, "PERMISSION_DENIED", "not an admin")
    outcome = Permissions(rest).apply(revoke, ApplyOptions())
    assert outcome.status is Status.failed and "not revoked" in outcome.message and rest.grants == {BOB: "EDIT"}
