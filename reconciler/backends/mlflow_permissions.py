"""MLflow permissions under basic-auth: read mlcp's grants, decide them against the server's users, apply them.

A grant in MLflow has no tags or labels, so ownership is recorded where the
backend already reads: a tag `mlcp.dev/grant.<hash of user>` on the
experiment or registered model, holding who, which level, and the spec. Those
tags mark mlcp's grants; a grant someone made by hand is never marked, so it
is never pruned (mlcp can take it over by declaring it). Tenant members can
edit those tags, so a grant's spec, tenant and file (who may revoke it) come
from mlcp's own record (mlflow_inventory), and an unrecorded mark is ignored.

Costs: nothing at all when the server has no auth. With auth, one `users/list`
plus one `users/permissions/list` per distinct user whose grants are read
(recorded ones while reading, declared ones while reviewing) — per person, not
per (experiment, user). The endpoints are MLflow 3's unified grant API
(`/api/3.0/mlflow/users/permissions/...`), which replaced the older per-kind
`experiments/permissions/*` calls.

mlcp never creates MLflow users: they need passwords, and inventing one
silently would be worse than asking. A grant for a user MLflow does not know is
blocked with that reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from controlplane.plans import Action, Change, LiveObject, ObjectRef, spec_text
from controlplane.rendering.mlflow_permissions import (
    EXPERIMENT_PERMISSION,
    KINDS,
    MODEL_PERMISSION,
    GrantRef,
    resource_of,
)
from reconciler.backends.base import ApplyOptions, BackendError, Outcome, Status
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest, Unanswered

V3 = "/api/3.0/mlflow/"
GRANT_TAG = "mlcp.dev/grant."
DIRECT_ROLE = "__user_"
"""MLflow keeps a user's direct grants in a synthetic role named `__user_<id>__`."""
NO_AUTH = "the registry runs without auth: MLflow enforces no permissions, so none are granted"


def grant_tag(user: str) -> str:
    """Tag key recording mlcp's grant to `user` (MLflow tag keys cannot hold `@`, so the user is hashed)."""
    return GRANT_TAG + hashlib.sha256(user.encode()).hexdigest()[:16]


def recorded_grants(tags: dict[str, str]) -> list[dict[str, Any]]:
    """mlcp's grant records among an object's tags (malformed ones are ignored)."""
    out = []
    for key, value in tags.items():
        if not key.startswith(GRANT_TAG):
            continue
        try:
            record = json.loads(value)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("user") and grant_tag(str(record["user"])) == key:
            out.append(record)
    return out


def is_permission(ref: ObjectRef) -> bool:
    return ref.kind in KINDS


class Permissions:
    """Review and apply of ExperimentPermission / RegisteredModelPermission changes on one server."""

    def __init__(self, rest: MlflowRest) -> None:
        self.rest = rest
        self.auth: bool | None = None
        self.users: frozenset[str] = frozenset()
        self.admins: frozenset[str] = frozenset()
        """MLflow admins (who may do anything anyway: their grants change nothing)."""
        self.models: frozenset[str] = frozenset()
        self.experiment_ids: dict[str, str] = {}
        self.pinned: Callable[[str], str | None] | None = None
        """The id of the experiment mlcp manages under a name (None: none recorded): a grant is written and revoked
        only there, whatever that experiment is named now (mlflow_identity)."""
        self.model_place: Callable[[str], str | None] | None = None
        """The live name of the registered model mlcp manages under a name (None: none): a grant is written and
        revoked only there, whatever that model is named now (mlflow_models)."""
        self._direct: dict[str, dict[tuple[str, str], str]] = {}
        self._listed = False

    def forget(self) -> None:
        """Drop the users and grants read for the last plan (a loop keeps one backend for its whole life)."""
        self.users = frozenset()
        self.admins = frozenset()
        self._direct = {}
        self._listed = False

    def read_users(self) -> None:
        """Forget the last plan's users and grants, and list the server's users (nothing without auth): before
        the records are read, whose store must be writable by nobody but mlcp and the admins."""
        self.forget()
        self._listed = True
        if not self.auth:
            return
        try:
            listed = self.rest.get("users/list").get("users") or []
        except MlflowApiError as exc:
            if exc.status not in (401, 403):
                raise
            raise BackendError(f"{exc}: mlcp's MLflow user must be an admin to manage permissions") from None
        self.users = frozenset(str(u["username"]) for u in listed)
        self.admins = frozenset(str(u["username"]) for u in listed if u.get("is_admin") is True)

    # -- reading ---------------------------------------------------------------------------------------------

    def read(
        self,
        experiments: Iterable[tuple[str, str, dict[str, str]]],
        models: Iterable[tuple[str, dict[str, str]]],
        recorded: Iterable[ObjectRef] = (),
    ) -> dict[ObjectRef, LiveObject]:
        """mlcp's grants as live objects, each with the level the user really has now (the users are listed
        unless `read_users` just did): those marked by tags, and every grant mlcp's own record has (`recorded`)
        on an experiment or model that exists, tag or no tag. Anyone with EDIT may delete the tag: a member about
        to be removed who deleted his own grant's tag was no longer seen, so his removal revoked nothing."""
        if not self._listed:
            self.read_users()
        self._listed = False  # the next plan lists them again
        if not self.auth:
            return {}
        objects: dict[ObjectRef, LiveObject] = {}
        for name, exp_id, tags in experiments:
            for record in recorded_grants(tags):
                found = self._live(EXPERIMENT_PERMISSION, "experiment", name, exp_id, record)
                objects[found.ref] = found
        for name, tags in models:
            for record in recorded_grants(tags):
                found = self._live(MODEL_PERMISSION, "model", name, name, record)
                objects[found.ref] = found
        for ref in recorded:
            if ref in objects or not is_permission(ref):
                continue
            grant = GrantRef.of(ref)
            on_experiment = grant.kind == EXPERIMENT_PERMISSION
            resource_id = self.experiment_ids.get(grant.resource) if on_experiment else self._model(grant.resource)
            if resource_id is None:
                continue  # its experiment or model is gone: nothing to hold a grant on
            field = "experiment" if on_experiment else "model"
            found = self._live(grant.kind, field, grant.resource, resource_id, {"user": grant.user})
            objects[found.ref] = found
        return objects

    def _live(self, kind: str, field: str, name: str, resource_id: str, record: dict[str, Any]) -> LiveObject:
        user = str(record["user"])
        resource_type = "experiment" if kind == EXPERIMENT_PERMISSION else "registered_model"
        level = self.direct(user).get((resource_type, resource_id))
        manifest = {field: name, "user": user, "permission": level}
        ref = GrantRef(kind, name, user).ref()
        return LiveObject(ref, manifest, level or "none")

    def direct(self, user: str, fresh: bool = False) -> dict[tuple[str, str], str]:
        """(resource type, resource id) → level of `user`'s direct grants; cached per plan unless `fresh`."""
        if fresh or user not in self._direct:
            try:
                rows = self.rest.get(V3 + "users/permissions/list", username=user).get("permissions") or []
            except MlflowApiError as exc:
                if not exc.not_found:
                    raise
                rows = []
            self._direct[user] = {
                (str(r["resource_type"]), str(r["resource_pattern"])): str(r["permission"])
                for r in rows
                if str(r.get("role_name", "")).startswith(DIRECT_ROLE)
            }
        return self._direct[user]

    # -- plan ------------------------------------------------------------------------------------------------

    def review(self, change: Change) -> Change:
        """No-op without auth; blocked for unknown users or models; otherwise says what the grant changes."""
        want = change.desired
        if change.action is Action.delete or want is None:
            return change
        if not self.auth:
            return replace(change, action=Action.noop, reason=NO_AUTH, diffs=(), blocked=None)
        user, level = str(want["user"]), str(want["permission"])
        resource_type, name = resource_of(want)
        if user not in self.users:
            why = f"user {user} does not exist in MLflow; create it there first (admin or SSO), mlcp sets no passwords"
            return _blocked(change, why)
        if resource_type == "registered_model" and self._model(name) is None:
            return _blocked(change, f"registered model {name!r} does not exist in MLflow")
        if change.action is Action.noop:
            return change
        if change.action is Action.update:
            return replace(change, reason=f"{user} has {_level(change)} on {name}, gets {level}")
        resource_id = self.experiment_ids.get(name) if resource_type == "experiment" else self._model(name)
        now = self.direct(user).get((resource_type, resource_id)) if resource_id else None
        if now == level:
            return replace(change, reason=f"{user} already has {level} on {name} (granted outside mlcp); recorded")
        held = f" (has {now}, granted outside mlcp)" if now else ""
        return replace(change, reason=f"grants {level} on {name} to {user}{held}")

    # -- apply -----------------------------------------------------------------------------------------------

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        want = change.desired or {}
        grant = GrantRef.of(change.ref)
        resource, user, kind = grant.resource, grant.user, grant.resource_type
        try:
            resource_id = self._resource_id(kind, resource)
            if resource_id is None:
                return Outcome(change, Status.failed, f"experiment {resource!r} does not exist; nothing to grant on")
            if options.dry_run:
                return Outcome(change, Status.deleted if change.action is Action.delete else Status.applied, "dry run")
            now = self.direct(user, fresh=True).get((kind, resource_id))
        except BackendError as exc:
            return Outcome(change, Status.failed, f"{exc}; permission of {user} on {resource} unchanged")
        place = _Grant(user, kind, resource_id, resource)
        if change.action is Action.delete:
            return self._revoke(change, place, now)
        return self._grant(change, place, now, str(want["permission"]))

    def _grant(self, change: Change, place: _Grant, now: str | None, level: str) -> Outcome:
        """Set the user's level (MLflow 3 has no update: a revoke, then a grant), then record it as mlcp's.

        Each outcome says what happened: a revoke followed by a failed grant leaves the user with no direct
        grant, and a write whose answer was lost may have been done (`uncertain`: a create's record is kept)."""
        user, name = place.user, place.name
        revoked = ""
        try:
            if now != level:
                if now is not None:
                    self._write_level(place, None)
                    revoked = f"revoked {now} of {user} on {name}; "
                self._write_level(place, level)
        except Unanswered as exc:
            step = f"granting {level}" if revoked or now is None else f"revoking {now} (to grant {level})"
            why = f"{revoked}{step} to {user} on {name} got no answer ({exc}): it may or may not have happened"
            return Outcome(change, Status.failed, f"{why}; the next plan reads it", uncertain=True)
        except BackendError as exc:
            if revoked:
                why = f"{revoked}grant failed: {level} was not granted ({exc}); {user} has no direct grant on {name}"
                return Outcome(change, Status.failed, f"{why} until the next apply puts it back")
            return Outcome(change, Status.failed, f"{exc}; permission of {user} on {name} unchanged")
        record = {
            "user": user,
            "permission": level,
            "tenant": change.tenant,
            "spec": spec_text(change.spec),
            "source": change.source,
        }
        try:
            self._tag(place.kind, place.resource_id, grant_tag(user), json.dumps(record, sort_keys=True))
        except BackendError as exc:  # granted: its record is kept, so the grant stays mlcp's
            why = f"{revoked}{user} has {level} on {name}, but recording it as mlcp's grant failed: {exc}"
            return Outcome(change, Status.failed, why, uncertain=True)
        was = f"was {now}" if now else "had none"
        return Outcome(change, Status.applied, f"{user} has {level} on {name} ({was})", level)

    def _revoke(self, change: Change, place: _Grant, now: str | None) -> Outcome:
        try:
            if now is not None:
                self._write_level(place, None)
            self._tag(place.kind, place.resource_id, grant_tag(place.user), None)
        except Unanswered as exc:
            why = (
                f"revoking {now} of {place.user} on {place.name} got no answer ({exc}): it may or may not have happened"
            )
            return Outcome(change, Status.failed, why, uncertain=True)
        except BackendError as exc:
            return Outcome(change, Status.failed, f"{exc}; permission of {place.user} on {place.name} not revoked")
        return Outcome(change, Status.deleted, f"revoked {now or 'nothing'} of {place.user}")

    def _write_level(self, place: _Grant, level: str | None) -> None:
        """Grant `level` (None: revoke the direct grant). A refusal that answered a retry is checked against what
        the user has now: the attempt whose answer was lost may have done it ("already exists", "not found")."""
        target = {"username": place.user, "resource_type": place.kind, "resource_id": place.resource_id}
        try:
            if level is None:
                self.rest.post(V3 + "users/permissions/revoke", **target)
            else:
                self.rest.post(V3 + "users/permissions/grant", **target, permission=level)
        except MlflowApiError as exc:
            if (
                not exc.after_lost_answer
                or self.direct(place.user, fresh=True).get((place.kind, place.resource_id)) != level
            ):
                raise

    def _resource_id(self, kind: str, name: str) -> str | None:
        """Where a grant on `name` is: a model mlcp recorded under its name now (mlflow_models), else by the name; an
        experiment mlcp recorded by its recorded id, whatever
        it is named now (renamed away, another given its name: a revoke still reaches the tenant's, and nothing is
        granted on the other); any other experiment by the name (None: no experiment has it)."""
        if kind == "registered_model":
            return self._model(name) or name
        pinned = self.pinned(name) if self.pinned is not None else None
        if pinned is not None:
            return pinned
        try:
            found = self.rest.get("experiments/get-by-name", experiment_name=name)["experiment"]
        except MlflowApiError as exc:
            if exc.not_found:
                return None
            raise
        return str(found["experiment_id"])

    def _model(self, name: str) -> str | None:
        """The live name of the registered model grants on `name` are on (None: no such model)."""
        if self.model_place is not None:
            return self.model_place(name)
        return name if name in self.models else None

    def _tag(self, kind: str, resource_id: str, key: str, value: str | None) -> None:
        """Record (or, with None, forget) mlcp's grant on the experiment or model itself."""
        try:
            if kind == "experiment" and value is not None:
                self.rest.post("experiments/set-experiment-tag", experiment_id=resource_id, key=key, value=value)
            elif kind == "experiment":
                self.rest.post("experiments/delete-experiment-tag", experiment_id=resource_id, key=key)
            elif value is not None:
                self.rest.post("registered-models/set-tag", name=resource_id, key=key, value=value)
            else:
                self.rest.delete("registered-models/delete-tag", name=resource_id, key=key)
        except MlflowApiError as exc:
            if value is not None or not exc.not_found:
                raise

    def current(self, ref: ObjectRef) -> str | None:
        """The level the user has on the resource right now (None: no direct grant)."""
        grant = GrantRef.of(ref)
        resource, user, kind = grant.resource, grant.user, grant.resource_type
        resource_id = self._resource_id(kind, resource)
        return self.direct(user, fresh=True).get((kind, resource_id)) if resource_id else None


@dataclass(frozen=True)
class _Grant:
    """Where one grant is: the user, the resource type and id MLflow wants, and its name for messages."""

    user: str
    kind: str
    resource_id: str
    name: str


def _level(change: Change) -> str:
    old = next((d.old for d in change.diffs if d.path == ("permission",)), None)
    return str(old) if old else "no permission"


def _blocked(change: Change, reason: str) -> Change:
    return replace(change, blocked=reason, action=Action.update if change.action is Action.noop else change.action)
