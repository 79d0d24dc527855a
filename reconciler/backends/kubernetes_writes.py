"""How mlcp writes one object to Kubernetes: server-side apply, drift taken back, deletes only of what was planned.

A write is server-side apply as field manager `mlcp`. When the API server answers with a conflict, who holds
the fields decides: a person's hand edit (kubectl's field managers) is drift and taken back with force, and so
is any manager's change to an object that bounds a tenant (its ResourceQuota, its RoleBindings:
`catalog.Resource.bounds_tenant`); any other controller's claim is a conflict the operator settles
(`--force-conflicts`). A binding's roleRef, which the API server never updates, is changed by deleting the
planned version and writing it anew. A delete carries the planned resourceVersion as a precondition, so an
object changed since the plan is never deleted blindly. Every answer becomes an `Outcome` that says what
happened, and whether a failed write may have happened anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from controlplane.plans import Action, Change, ObjectRef
from controlplane.rendering import catalog
from reconciler.backends.base import ApplyOptions, BackendError, Outcome, Status
from reconciler.backends.kubernetes_answers import HttpError, Unanswered
from reconciler.backends.kubernetes_client import KubeClient

MANUAL_EDITORS = frozenset(
    {
        "kubectl",
        "kubectl-edit",
        "kubectl-patch",
        "kubectl-client-side-apply",
        "kubectl-label",
        "kubectl-annotate",
        "kubectl-replace",
        "kubectl-scale",
        "kubectl-set",
        "kubectl-create",
    }
)
"""Field managers that mean "a person changed this by hand": their changes to mlcp's fields are drift,
taken back on apply. Any other manager is a controller with a claim of its own: a conflict."""
_CONFLICT_MANAGER = re.compile(r'conflicts? with "([^"]+)"')


class Remembers(Protocol):
    """Where a write is remembered as it is made (the watch cache), so the next read sees it without a LIST."""

    def written(self, ref: ObjectRef, item: dict[str, Any]) -> None: ...

    def deleted(self, ref: ObjectRef, version: str) -> None: ...


@dataclass(frozen=True)
class ObjectWrite:
    """One change's write: where it goes, as whom (None: mlcp's own identity), and where it is remembered."""

    client: KubeClient
    change: Change
    path: str
    options: ApplyOptions
    impersonate: str | None
    cache: Remembers | None

    def outcome(self) -> Outcome:
        """Make the change and say what happened; never raises for the API server's answer."""
        change, options = self.change, self.options
        try:
            if change.action is Action.delete:
                return self._delete()
            try:
                result, note = self._server_side_apply()
            except HttpError as exc:
                if not _new_role_ref(change, exc):
                    raise
                result, note = self._replace_binding()
        except HttpError as exc:
            return Outcome(change, Status.failed, explain(exc, change.action), uncertain=exc.uncertain)
        except Unanswered as exc:
            return Outcome(change, Status.failed, f"{exc} (the write may have happened)", uncertain=True)
        except BackendError as exc:
            return Outcome(change, Status.failed, str(exc))
        version = str(result.get("metadata", {}).get("resourceVersion", ""))
        if self.cache is not None and not options.dry_run:
            self.cache.written(change.ref, result)
        return Outcome(change, Status.applied, "dry run" if options.dry_run else note, version)

    def _server_side_apply(self) -> tuple[dict[str, Any], str]:
        """Apply; a conflict only with hand edits (kubectl) is drift and is taken back with force."""
        change, options = self.change, self.options
        force = options.force_conflicts
        managers: set[str] = set()
        for attempt in range(2):
            try:
                result = self.client.server_side_apply(
                    self.path,
                    change.desired,
                    options.field_manager,
                    force=force,
                    dry_run=options.dry_run,
                    impersonate=self.impersonate,
                )
            except HttpError as exc:
                managers = set(_CONFLICT_MANAGER.findall(str(exc))) if exc.status == 409 else set()
                if attempt == 0 and managers and (managers <= MANUAL_EDITORS or _guards(change)):
                    force = True
                    continue
                raise
            note = f"drift healed: took fields back from {', '.join(sorted(managers))}" if attempt else ""
            return result, note
        raise BackendError("unreachable")  # pragma: no cover

    def _replace_binding(self) -> tuple[dict[str, Any], str]:
        """A binding whose roleRef changed, which the API server never updates: deleted (only the version the plan
        compared) and written anew. How the people's bindings of earlier versions, to Kubernetes' `admin` and
        `edit`, move to mlcp's roles on upgrade without waiting for a `--prune`."""
        if self.options.dry_run:
            return {}, "dry run: would be replaced (its roleRef changed)"
        deleted = self._delete()
        if deleted.status is not Status.deleted:
            raise BackendError(deleted.message)
        result, _ = self._server_side_apply()
        return result, "replaced: its roleRef changed, which the API server never updates"

    def _delete(self) -> Outcome:
        """Delete only the version the plan compared (a resourceVersion precondition); gone already is deleted."""
        change, options = self.change, self.options
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if change.live_version:
            body["preconditions"] = {"resourceVersion": change.live_version}
        query = [("dryRun", "All")] if options.dry_run else []
        try:
            answer = self.client.request("DELETE", self.path, query, body, impersonate=self.impersonate)
        except HttpError as exc:
            if exc.status == 404:
                return Outcome(change, Status.deleted, "already gone")
            raise
        if self.cache is not None and not options.dry_run:  # the version removed: the precondition's, or answered
            removed = change.live_version or str((answer.get("metadata") or {}).get("resourceVersion") or "")
            self.cache.deleted(change.ref, removed)
        return Outcome(change, Status.deleted, "dry run" if options.dry_run else "")


def explain(exc: HttpError, action: Action = Action.update) -> str:
    """What the API server's refusal means for the operator, and what to do about it."""
    if exc.status == 409 and exc.body.get("reason") == "Conflict" and action is Action.delete:
        return (
            f"not deleted: the object changed since the plan (its resourceVersion precondition failed: {exc}); "
            "plan again to see what changed (the loop's next pass does)"
        )
    if exc.status == 409 and exc.body.get("reason") == "Conflict":
        return f"conflict with another field manager: {exc}; rerun with --force-conflicts to take the fields over"
    if exc.status == 403:
        return f"forbidden by the API server's RBAC: {exc}"
    if exc.status == 422:
        return f"rejected by the API server's validation: {exc}"
    return f"HTTP {exc.status}: {exc}"


def _guards(change: Change) -> bool:
    """Whether the object bounds a tenant, as its kind declares (`catalog.Resource.bounds_tenant`): a conflict on
    it is drift under any field manager's name."""
    declared = catalog.find(change.ref.api_version, change.ref.kind)
    return declared is not None and declared.bounds_tenant


def _new_role_ref(change: Change, exc: HttpError) -> bool:
    """Whether the API server refused the write of a binding only because it changes its (immutable) roleRef."""
    details = exc.body.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    return (
        exc.status == 422
        and change.ref.kind in ("RoleBinding", "ClusterRoleBinding")
        and isinstance(causes, list)
        and any(isinstance(c, dict) and c.get("field") == "roleRef" for c in causes)
    )
