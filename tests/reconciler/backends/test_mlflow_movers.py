"""Who MLflow lets move a model's aliases, per approver identity: an admin, a user whose resolved permission can
update the model (EDIT, MANAGE: granted outside mlcp, or by default), or one whose permission cannot be read
may move them; a user with READ cannot; a name MLflow does not know says nothing; no auth restricts no one.

tests/integration/attacks/test_granted_alias_mover.py runs the attack against a real basic-auth MLflow.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

from reconciler.backends.mlflow_movers import AliasMovers
from reconciler.backends.mlflow_permissions import V3, Permissions
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest
from reconciler.backends.movers import Standing

GET = V3 + "users/permissions/get"


class Registry:
    """Just what the reader asks of MLflow: each user's resolved permission on a registered model."""

    shown = "http://mlflow.test"

    def __init__(self, levels: dict[str, str], failing: frozenset[str] = frozenset()) -> None:
        self.levels = levels
        self.failing = failing
        self.calls: Counter[str] = Counter()

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        assert path == GET and query["resource_type"] == "registered_model" and query["resource_id"] == "m"
        self.calls[query["username"]] += 1
        if query["username"] in self.failing:
            raise MlflowApiError(403, "PERMISSION_DENIED", "no")
        return {"permission": self.levels.get(query["username"], "READ")}


def _movers(registry: Registry, auth: bool | None = True) -> AliasMovers:
    rest = cast(MlflowRest, registry)
    permissions = Permissions(rest)
    permissions.auth = auth
    permissions.users = frozenset({"Carol@Example.com", "lead@x", "root", "erin@x", "frank@x"})
    permissions.admins = frozenset({"root"})
    return AliasMovers(rest, permissions)


def test_each_identity_stands_as_mlflow_resolves_its_users_permission_on_the_model() -> None:
    registry = Registry({"Carol@Example.com": "EDIT", "erin@x": "MANAGE"}, failing=frozenset({"frank@x"}))
    rights = _movers(registry).rights("m", ["carol@example.com", "lead@x", "root", "erin@x", "frank@x", "nobody@x"])
    standing = {who: right.standing for who, right in rights.rights.items()}
    assert standing == {
        "carol@example.com": Standing.may_move,  # MLflow names its users in any case; identities are lower case
        "lead@x": Standing.cannot_move,
        "root": Standing.may_move,
        "erin@x": Standing.may_move,
        "frank@x": Standing.may_move,  # a permission that cannot be read bars: fail safe
        "nobody@x": Standing.no_user,
    }
    assert "has EDIT on registered model 'm'" in rights.rights["carol@example.com"].why
    assert "is an admin" in rights.rights["root"].why
    assert "cannot read MLflow user frank@x's permission" in rights.rights["frank@x"].why
    assert not rights.open


def test_each_user_is_asked_once_per_model_until_the_next_read() -> None:
    registry = Registry({})
    movers = _movers(registry)
    movers.rights("m", ["lead@x"])
    movers.rights("m", ["lead@x", "nobody@x"])
    assert registry.calls == Counter({"lead@x": 1}), "an admin, or a name MLflow does not know, costs nothing"
    movers.forget()
    movers.rights("m", ["lead@x"])
    assert registry.calls == Counter({"lead@x": 2})


def test_without_auth_anyone_may_move_and_unknown_auth_bars_everyone() -> None:
    assert _movers(Registry({}), auth=False).rights("m", ["lead@x"]).open
    unknown = _movers(Registry({}), auth=None).rights("m", ["lead@x"])
    assert not unknown.open and unknown.rights["lead@x"].standing is Standing.may_move
    assert "cannot tell whether MLflow" in unknown.rights["lead@x"].why
