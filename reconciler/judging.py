"""Which revision a tenant's changes are judged from: its own applied revision while that still holds, else the base.

The loop records, per tenant, the revision its own lane last converged it to (reconciler.state, the ConfigMap
`mlcp-reconciler-state`). A tenant that lags (a change of it denied or failed) is judged by every commit since
*its* revision, so a later commit to the same file never hides the denied one. That record is a pointer into
history, which can move under it:

- a force push drops the recorded commit: head no longer descends from it, so no range from it exists (every
  pass used to fail, "head does not descend from the trusted base", for as long as the record stayed, whatever
  base the operator named);
- the operator names a trusted base (`--trusted-base`) that the recorded revision precedes or does not lead to:
  the operator vouches for that base's content, and the rules are its.

Either way the tenant is judged from the trusted base (fail closed: the base's rules, every commit since it),
and the log says which tenant's record was passed over and why. Only a tenant judged from its own revision may
have a change that asks for nothing new put back without asking its last writers again
(`authorizing.PlanAuthorizer`, `converged`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from controlplane.errors import MlcpError
from controlplane.loading.repo import ConfigRepo
from controlplane.plans import Action, Plan
from reconciler import ancestry, logs, partition
from reconciler.authorizing import PlanAuthorizer
from reconciler.backends.movers import AliasRightsReader
from reconciler.state import NAME as STATE
from reconciler.state import TenantRevisions
from reconciler.trust import TrustedBase

_KEPT = 4_096
"""Ancestry answers kept (a few revisions are recorded at once: usually one)."""


@dataclass(frozen=True)
class Base:
    """The revision a group of changes is judged from, and whether it is their tenants' own applied revision."""

    revision: str
    own: bool


@dataclass
class Judging:
    """The per-tenant bases of a loop's passes, with git's ancestry answers kept between them."""

    _descends: dict[tuple[str, str], bool] = field(default_factory=dict)

    def authorize(
        self,
        plan: Plan,
        repo: ConfigRepo,
        revision: str | None,
        state: TenantRevisions,
        trusted: TrustedBase,
        clean: bool,
        registry: AliasRightsReader | None = None,
    ) -> Plan:
        """Each tenant's changes judged by the trusted base's rules and by the commits since its base (`bases`);
        a tenant judged from its own applied revision may have drift healed (`PlanAuthorizer`, `converged`).
        `clean`: the checkout is exactly the revision (`gitsync.Checkout.clean`). `registry`: who it lets move a
        model's aliases (`PlanAuthorizer`)."""
        pending = [(i, partition.key_of(c)) for i, c in enumerate(plan.changes) if c.action is not Action.noop]
        bases = self.bases((key for _, key in pending), state, trusted, repo.root, revision or "")
        by_base: dict[Base, list[int]] = {}
        for i, key in pending:
            by_base.setdefault(bases[key], []).append(i)
        changes = list(plan.changes)
        for base, positions in by_base.items():
            keys = {partition.key_of(changes[i]) for i in positions} - {partition.PLATFORM}
            converged = frozenset(keys) if base.own else frozenset()
            authorizer = PlanAuthorizer(
                repo, revision, base.revision, trusted, clean=clean, converged=converged, registry=registry
            )
            sub = authorizer.authorize(replace(plan, changes=tuple(changes[i] for i in positions)))
            for i, change in zip(positions, sub.changes, strict=True):
                changes[i] = change
        plan.meta["baseRevision"] = trusted.revision
        return replace(plan, changes=tuple(changes))

    def bases(
        self, keys: Iterable[str], state: TenantRevisions, trusted: TrustedBase, root: Path, head: str
    ) -> dict[str, Base]:
        """Each key's base: its recorded revision when it still holds (see the module docstring), else the
        trusted base's revision."""
        found: dict[str, Base] = {}
        passed_over: dict[str, str] = {}
        for key in dict.fromkeys(keys):
            recorded = state.by_tenant.get(key)
            why = self._why_not(recorded, trusted, root, head) if recorded else "none recorded"
            if why is None and recorded:
                found[key] = Base(recorded, own=True)
                continue
            found[key] = Base(trusted.revision, own=False)
            if recorded:
                passed_over[key] = f"{recorded[:12]}: {why}"
        if passed_over:
            shown = dict(sorted(passed_over.items())[:5])
            logs.get().warning(
                f"tenants' applied revisions in ConfigMap {STATE} no longer hold: judged from the trusted base "
                f"{trusted.revision[:12]} instead",
                extra={"tenants": shown, "count": len(passed_over)},
            )
        return found

    def _why_not(self, recorded: str, trusted: TrustedBase, root: Path, head: str) -> str | None:
        """Why a recorded revision may not judge (None: it may)."""
        if recorded == trusted.revision:
            return None
        if not self._ancestor(root, recorded, head, recorded):
            return f"head {head[:12]} does not descend from it (history was rewritten, e.g. a force push)"
        if trusted.origin == "operator" and not self._ancestor(root, trusted.revision, recorded, recorded):
            return f"it does not descend from the trusted base {trusted.revision[:12]} the operator named"
        return None

    def _ancestor(self, root: Path, revision: str, head: str, recorded: str) -> bool:
        key = (revision, head)
        known = self._descends.get(key)
        if known is None:
            try:
                known = ancestry.descends(root, head, revision)
            except MlcpError as exc:
                raise MlcpError(
                    f"cannot tell whether a tenant's applied revision {recorded[:12]} (ConfigMap {STATE}) still "
                    f"holds: {exc}",
                    "check that the clone is intact",
                ) from None
            if len(self._descends) >= _KEPT:
                self._descends.clear()
            self._descends[key] = known
        return known
