"""Whether mlcp may read an MLflow experiment as its records: only while nobody but mlcp and MLflow admins can write it.

mlcp's records (mlflow_inventory) decide whose an object is, which spec and
tenant judge its deletion, and which version an alias is healed back to: they
are authorization inputs. The store is found by its name and role tag, and
under basic-auth any MLflow user may create an experiment under any name and
holds MANAGE on it. A tenant who made `mlcp-inventory.<controller namespace>`
(or an older mlcp's `mlcp-inventory`) before mlcp did (a fresh server, an
upgrade), tagged as mlcp's, wrote records mlcp read as its own, and kept
writing them after mlcp took the experiment on.

So under basic-auth a store is read only while no MLflow user other than
mlcp's own and the MLflow admins may write it: each other user's permission
on it, as MLflow itself resolves it (direct grants, roles, wildcard grants and
the server's `default_permission`), must be below EDIT. The creator of an
experiment holds MANAGE from its creation, so a store someone else made is
refused as long as she can still write it. A refusal names who, reads no
record of the store, and writes nothing to that server until an MLflow admin
moves the experiment aside (or, for mlcp's own store, revokes those grants).
Another installation's store (what this one never takes over) is judged the
same way: one others may write is ignored and reported, so a tenant cannot
forge one to block any object she names (mlflow_inventory says how).

What this cannot see: MLflow keeps no creator of an experiment, so a user who
made the store, handed MANAGE to mlcp's user and then revoked her own grant
leaves a store that looks like mlcp's; she cannot write it any more, but what
she wrote before stays. docs/security.md says so.

Cost: nothing without auth. With auth, one `users/permissions/get` per MLflow
user other than mlcp's own and the admins, per store experiment, once per
process and again after RECHECK seconds, a new leadership term (`forget`) and
right after mlcp makes the store; `users/list` is the permission reading's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.backends.base import BackendError
from reconciler.backends.mlflow_permissions import V3, Permissions
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest

CANNOT_WRITE = frozenset({"READ", "USE", "DENY", "NO_PERMISSIONS"})
"""MLflow's levels that cannot change an experiment's tags; any other (EDIT, MANAGE, one MLflow adds) can."""
RECHECK = 300.0
"""Seconds a verdict is kept (the loop's default resync interval): a grant given later is found within it."""
MAX_NAMED = 5


class RecordTrust:
    """The verdict on each store experiment of one server, kept for RECHECK seconds."""

    def __init__(self, rest: MlflowRest, permissions: Permissions, clock: Callable[[], float] = time.monotonic) -> None:
        self.rest = rest
        self.permissions = permissions
        self.clock = clock
        self._trusted: dict[str, float] = {}
        """Experiment id → when it was last found writable by nobody else."""

    def forget(self) -> None:
        self._trusted = {}

    def writers(self, experiment_id: str, name: str, fresh: bool = False) -> str | None:
        """Who other than mlcp's user and MLflow admins may write experiment `experiment_id` ("carol (MANAGE)"),
        None when nobody (kept for RECHECK seconds unless `fresh`); BackendError when MLflow does not say."""
        if not self.permissions.auth:
            return None
        checked = self._trusted.get(experiment_id)
        if not fresh and checked is not None and self.clock() - checked < RECHECK:
            return None
        self._trusted.pop(experiment_id, None)
        writers = self._writers(experiment_id, name)
        if writers:
            more = f" and {len(writers) - MAX_NAMED} more" if len(writers) > MAX_NAMED else ""
            return ", ".join(f"{user} ({level})" for user, level in writers[:MAX_NAMED]) + more
        self._trusted[experiment_id] = self.clock()
        return None

    def _writers(self, experiment_id: str, name: str) -> list[tuple[str, str]]:
        """Each user other than mlcp's own and the admins who may write the experiment, with their level."""
        own = self.rest.username
        out = []
        for user in sorted(self.permissions.users - self.permissions.admins - {own}):
            query = {"username": user, "resource_type": "experiment", "resource_id": experiment_id}
            try:
                level = str(self.rest.get(V3 + "users/permissions/get", **query).get("permission"))
            except MlflowApiError as exc:
                if exc.not_found:  # removed since the listing: writes nothing
                    continue
                raise BackendError(
                    f"cannot read who may write MLflow experiment {name!r}, which holds mlcp's records ({exc}): "
                    "mlcp reads none of them and writes nothing to this MLflow"
                ) from None
            if level not in CANNOT_WRITE:
                out.append((user, level))
        return out
