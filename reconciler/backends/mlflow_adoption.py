"""Taking over an experiment mlcp did not make: only when nobody the tenant does not declare holds a grant on it.

Anyone with an MLflow account may create an experiment under any name, and
under basic-auth its creator holds MANAGE on it. mlcp takes over (adopts) an
existing experiment whose name a spec declares when it carries mlcp's
ownership tag, and leaves grants made outside mlcp alone. Together that let a
member of one tenant create `<other tenant>/<name>` before that tenant
declared it, tag it, and keep MANAGE on the experiment the other tenant then
logged every run and artifact to: read them, delete them, grant others.

So an adoption (a live experiment this installation's record does not have)
under basic-auth is blocked while any MLflow user other than mlcp's own and
the people the tenant grants on it holds a direct grant there, naming them:
an MLflow admin revokes those grants (or the tenant declares those people), and
the next plan adopts it. Without auth MLflow enforces no permissions, so there
is nothing to check. mlcp's own experiments are recorded and never judged here.
It costs one grant listing per MLflow user, only in a plan that adopts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from controlplane.planning import InventoryRecord
from controlplane.plans import Action, Change, ObjectRef
from controlplane.rendering.mlflow_objects import EXPERIMENT
from controlplane.rendering.mlflow_permissions import resource_of
from reconciler.backends.base import BackendError
from reconciler.backends.mlflow_permissions import Permissions, is_permission

MAX_NAMED = 5
"""Grantees named in a refusal; the rest are counted."""


def _declared(changes: Sequence[Change]) -> dict[str, set[str]]:
    """Experiment name → the users the plan grants on it."""
    out: dict[str, set[str]] = {}
    for change in changes:
        want = change.desired
        if is_permission(change.ref) and want is not None and change.action is not Action.delete:
            kind, name = resource_of(want)
            if kind == "experiment":
                out.setdefault(name, set()).add(str(want["user"]))
    return out


def judge(
    changes: Sequence[Change],
    records: Mapping[ObjectRef, InventoryRecord],
    permissions: Permissions,
    own_user: str | None,
) -> list[Change]:
    """`changes` with every adoption of an experiment others hold grants on blocked, and the grants on it."""
    adoptions = [
        i
        for i, c in enumerate(changes)
        if c.ref.kind == EXPERIMENT
        and c.action in (Action.update, Action.noop)
        and c.live_version is not None
        and c.ref not in records
        and not c.blocked
    ]
    if not adoptions or not permissions.auth:
        return list(changes)
    declared = _declared(changes)
    out = list(changes)
    for i in adoptions:
        change = out[i]
        experiment_id = permissions.experiment_ids.get(change.ref.name)
        if experiment_id is None:
            continue
        allowed = declared.get(change.ref.name, set()) | ({own_user} if own_user else set())
        try:
            holders = {
                user: level
                for user in sorted(permissions.users - allowed)
                if (level := permissions.direct(user).get(("experiment", experiment_id))) is not None
            }
        except BackendError as exc:
            out[i] = _blocked(change, f"cannot read who holds grants on it ({exc}), so mlcp does not adopt it")
            continue
        if holders:
            named = ", ".join(f"{u} ({level})" for u, level in list(holders.items())[:MAX_NAMED])
            more = f" and {len(holders) - MAX_NAMED} more" if len(holders) > MAX_NAMED else ""
            out[i] = _blocked(
                change,
                f"it exists in MLflow but mlcp did not make it (its record does not have it), and {named}{more} "
                "hold grants on it that the tenant does not declare (an experiment's creator holds MANAGE): "
                "adopting it would give them every run and artifact the tenant logs there. Have an MLflow admin "
                "revoke those grants (or declare those people in the Tenant), or name another experiment",
            )
    refused = {out[i].ref.name for i in adoptions if out[i].blocked}
    return [_waiting(c) if _on(c, refused) else c for c in out] if refused else out


def _on(change: Change, experiments: set[str]) -> bool:
    """Whether `change` grants on one of `experiments` (a revoke is never held back)."""
    want = change.desired
    if not is_permission(change.ref) or want is None or change.action is Action.delete or change.blocked:
        return False
    kind, name = resource_of(want)
    return kind == "experiment" and name in experiments


def _waiting(change: Change) -> Change:
    _, name = resource_of(change.desired or {})
    why = f"waits for mlcp to adopt experiment {name!r}, which is blocked: no grant is made on someone else's"
    return replace(change, action=Action.update if change.action is Action.noop else change.action, blocked=why)


def _blocked(change: Change, why: str) -> Change:
    action = Action.update if change.action is Action.noop else change.action
    return replace(change, action=action, blocked=f"experiment {change.ref.name!r}: {why}")
