"""Taking over an MLflow object mlcp did not make: only when nobody the tenant does not declare holds a grant on it.

Anyone with an MLflow account may create an experiment or register a model
under any name, and under basic-auth its creator holds MANAGE on it. mlcp
takes over (adopts) an existing experiment whose name a spec declares when it
carries mlcp's ownership tag, promotes registered models it never creates, and
leaves grants made outside mlcp alone. Together that let a member of one tenant
create `<other tenant>/<name>` (or register `<other tenant>-<name>`) before
that tenant declared it and keep MANAGE on it: read, delete and share every run
and artifact the tenant then logged there, or create the versions and move the
`fromAlias` the tenant's promotion follows into its production.

So under basic-auth, taking an object over is blocked while any MLflow user
other than mlcp's own and the people the plan grants on it holds a direct grant
there, naming them, and so are the plan's grants on it: an MLflow admin revokes
those grants (or the Tenant declares those people), and the next plan goes
ahead. Taking over means: an experiment whose id this installation's record
does not have (none recorded, or a record an older mlcp wrote without one:
mlflow_identity), or a model none of whose aliases it has yet moved (the first
promotion).
Without auth MLflow enforces no permissions, so there is nothing to check; what
mlcp already governs is never judged here. It costs one grant listing per MLflow
user, only in a plan that takes something over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from controlplane.inventory import InventoryRecord
from controlplane.plans import Action, Change, ObjectRef
from controlplane.rendering.mlflow_objects import EXPERIMENT, MODEL_ALIAS, AliasRef
from controlplane.rendering.mlflow_permissions import resource_of
from reconciler.backends.base import BackendError
from reconciler.backends.mlflow_identity import recorded_id
from reconciler.backends.mlflow_permissions import Permissions, is_permission

MAX_NAMED = 5
"""Grantees named in a refusal; the rest are counted."""
Resource = tuple[str, str]
"""(MLflow resource type, name): ("experiment", "vision/detector"), ("registered_model", "vision-detector")."""


def _declared(changes: Sequence[Change]) -> dict[Resource, set[str]]:
    """Each resource → the users the plan grants on it."""
    out: dict[Resource, set[str]] = {}
    for change in changes:
        if is_permission(change.ref) and change.desired is not None and change.action is not Action.delete:
            out.setdefault(resource_of(change.desired), set()).add(str(change.desired["user"]))
    return out


def _taken_over(change: Change, records: Mapping[ObjectRef, InventoryRecord], governed: set[str]) -> Resource | None:
    """The resource `change` takes over (None: it takes nothing over, or is blocked already)."""
    if change.blocked or change.desired is None:
        return None
    if change.ref.kind == EXPERIMENT and change.action in (Action.update, Action.noop):
        live = change.live_version is not None and recorded_id(records.get(change.ref)) is None
        return ("experiment", change.ref.name) if live else None
    if change.ref.kind == MODEL_ALIAS and change.action in (Action.create, Action.update):
        model = AliasRef.of(change.ref).model
        return ("registered_model", model) if model not in governed else None
    return None


def judge(
    changes: Sequence[Change],
    records: Mapping[ObjectRef, InventoryRecord],
    permissions: Permissions,
    own_user: str | None,
    governed: set[str] | None = None,
) -> list[Change]:
    """`changes` with every take-over of an object others hold grants on blocked, and the plan's grants on it.

    `governed`: the models mlcp manages (the recorded one holds the name: mlflow_models); by default every model
    one of whose aliases mlcp recorded."""
    if not permissions.auth:
        return list(changes)
    if governed is None:
        governed = {AliasRef.of(ref).model for ref in records if ref.kind == MODEL_ALIAS}
    taking = {i: r for i, c in enumerate(changes) if (r := _taken_over(c, records, governed)) is not None}
    if not taking:
        return list(changes)
    declared = _declared(changes)
    out = list(changes)
    refused: dict[Resource, str] = {}
    for i, resource in taking.items():
        why = refused.get(resource) or _holders(resource, declared, permissions, own_user)
        if why:
            refused[resource] = why
            out[i] = _blocked(out[i], f"{resource[0].replace('_', ' ')} {resource[1]!r}: {why}")
    for i, change in enumerate(out):
        held = resource_of(change.desired) if is_permission(change.ref) and change.desired else None
        if held in refused and change.action is not Action.delete and not change.blocked:
            kind, name = held
            why = f"waits for mlcp to take over {kind.replace('_', ' ')} {name!r}, which is blocked: {refused[held]}"
            out[i] = _blocked(change, why)
    return out


def _holders(
    resource: Resource, declared: Mapping[Resource, set[str]], permissions: Permissions, own_user: str | None
) -> str | None:
    """Why `resource` may not be taken over: who else holds grants on it (None: nobody)."""
    kind, name = resource
    resource_id = permissions.experiment_ids.get(name) if kind == "experiment" else name
    if resource_id is None:
        return None  # nothing live to hold grants on
    allowed = declared.get(resource, set()) | permissions.admins | ({own_user} if own_user else set())
    try:
        holders = {
            user: level
            for user in sorted(permissions.users - allowed)
            if (level := permissions.direct(user).get((kind, resource_id))) is not None
        }
    except BackendError as exc:
        return f"cannot read who holds grants on it ({exc}), so mlcp does not take it over"
    if not holders:
        return None
    named = ", ".join(f"{u} ({level})" for u, level in list(holders.items())[:MAX_NAMED])
    more = f" and {len(holders) - MAX_NAMED} more" if len(holders) > MAX_NAMED else ""
    return (
        f"mlcp did not make it or govern it yet, and {named}{more} hold grants on it that the tenant does not "
        "declare (its creator holds MANAGE): taking it over would give them every run, artifact and version the "
        "tenant puts there. Have an MLflow admin revoke those grants (or declare those people in the Tenant), or "
        "use another name"
    )


def _blocked(change: Change, why: str) -> Change:
    return replace(change, action=Action.update if change.action is Action.noop else change.action, blocked=why)
