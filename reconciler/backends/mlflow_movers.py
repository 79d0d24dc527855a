"""Who MLflow lets move a registered model's aliases, asked per approver of a `fromAlias` promotion.

MLflow's basic-auth app lets a user set or delete an alias when their
permission on the registered model can update it (EDIT, MANAGE), and its
admins do anything. mlcp grants EDIT or MANAGE to the tenant's own people, but
anyone else may hold it too: an admin's grant made outside mlcp, a user's
MANAGE as the model's creator, a role, the server's `default_permission`. A
user may be named by any of the approver's identities (mlcp names MLflow users
as its grants do: by the git identity, the policy's `people` map the rest).

The answer only removes approvers (backends.movers): a user who may move the
aliases, an admin, a permission that cannot be read, or a server whose auth
cannot be told, each bars the identity; no user of the name says nothing. The
permission asked is MLflow's own resolution (`users/permissions/get`: direct
grants, roles, wildcard grants, the default permission), as mlflow_record_trust
asks it.

Cost: nothing without auth. With auth, one `users/permissions/get` per MLflow
user an approver's identity names, per model, kept until the next `read`;
`users/list` (who exists, who is admin) is the permission reading's own.
"""

from __future__ import annotations

from collections.abc import Collection

from reconciler.backends.base import BackendError
from reconciler.backends.mlflow_permissions import V3, Permissions
from reconciler.backends.mlflow_record_trust import CANNOT_WRITE
from reconciler.backends.mlflow_rest import MlflowRest
from reconciler.backends.movers import AliasRights, MoveRight, Standing


class AliasMovers:
    """The answers of one server, kept per (model, user) until `forget` (each `read` of the backend)."""

    def __init__(self, rest: MlflowRest, permissions: Permissions) -> None:
        self.rest = rest
        self.permissions = permissions
        self._levels: dict[tuple[str, str], str | BackendError] = {}

    def forget(self) -> None:
        self._levels = {}

    def rights(self, model: str, identities: Collection[str]) -> AliasRights:
        """Each identity's standing on `model`'s aliases (none without auth: anyone may move them)."""
        auth = self.permissions.auth
        if auth is False:
            return AliasRights(model, open=True, rights={})
        users: dict[str, list[str]] = {}
        for user in sorted(self.permissions.users):
            users.setdefault(user.lower(), []).append(user)
        return AliasRights(model, False, {who: self._right(model, who, users.get(who, []), auth) for who in identities})

    def _right(self, model: str, identity: str, users: list[str], auth: bool | None) -> MoveRight:
        if auth is None:
            return MoveRight(
                Standing.may_move,
                f"mlcp cannot tell whether MLflow at {self.rest.shown} runs auth, so not who may move its aliases",
            )
        if not users:
            return MoveRight(Standing.no_user, f"MLflow knows no user named {identity}")
        for user in users:
            if user in self.permissions.admins:
                return MoveRight(Standing.may_move, f"MLflow user {user} is an admin (may move any alias)")
            level = self._level(model, user)
            if isinstance(level, BackendError):
                return MoveRight(
                    Standing.may_move, f"cannot read MLflow user {user}'s permission on {model!r}: {level}"
                )
            if level not in CANNOT_WRITE:
                return MoveRight(Standing.may_move, f"MLflow user {user} has {level} on registered model {model!r}")
        return MoveRight(Standing.cannot_move, "")

    def _level(self, model: str, user: str) -> str | BackendError:
        """MLflow's resolved permission of `user` on the model (its error, when it would not say)."""
        key = (model, user)
        if key not in self._levels:
            query = {"username": user, "resource_type": "registered_model", "resource_id": model}
            try:
                self._levels[key] = str(self.rest.get(V3 + "users/permissions/get", **query).get("permission"))
            except BackendError as exc:
                self._levels[key] = exc
        return self._levels[key]
