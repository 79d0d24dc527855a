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
from reconciler.backends.base import BackendError
from reconciler.backends.mlflow_permissions import V3, Permissions, grant_tag, recorded_grants
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest

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
