"""Namespace ownership: a Tenant may only use a namespace mlcp made for it, or one it was told to adopt.

Live state is read by label selector, so a namespace without mlcp's labels
(kube-system, default, a team's hand-made namespace, mlcp's own controller
namespace) looks absent: the plan would say "create", server-side apply would
silently take it over and bind the new tenant's owners as admins there. So,
before authorization, every tenant's namespace claim is judged against mlcp's
inventory (the record of which tenant mlcp made each namespace for) and, for
a namespace mlcp has no record of, against whether it exists (one GET per
Namespace create, none for a plan without creates). A refused tenant's
changes are all blocked under the rule `namespace-ownership`; the owner's
changes are untouched, so the newcomer is the one blamed and the owner keeps
converging.

Refused: a reserved namespace (`default`, `kube-*`); the controller
namespace; a namespace the inventory records as another tenant's, or whose
record is unreadable; one that no record gives to anyone but that another
tenant declares in the trusted base (the base's tenant keeps it: a newcomer
naming an existing tenant's namespace before its first apply blocked that
tenant too); one that exists but mlcp did not create, unless the tenant sets
`adoptNamespace: true` (a platform admin's decision: Tenant changes are theirs
under the default policy); and one that two tenants declare while neither a
record nor the trusted base says whose it is (both are refused).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from controlplane.inventory import Inventory
from controlplane.labels import ADOPTED_ANNOTATION
from controlplane.plans import Action, Change, Decision

if TYPE_CHECKING:
    from reconciler.trust import TrustedBase

RULE = "namespace-ownership"
NAMESPACE = "Namespace"
ADOPT_HINT = "a platform admin may set spec.adoptNamespace: true on the Tenant to take it over"


def reserved(name: str) -> bool:
    return name == "default" or name.startswith("kube-")


def adopting(change: Change) -> bool:
    annotations = ((change.desired or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(ADOPTED_ANNOTATION) == "true"


Exists = Callable[[list[str]], dict[str, bool | str]]
"""Which of these namespaces exist: True/False, or why it cannot be told (the claim is then refused)."""
_LOOK = "look"
"""A verdict waiting for whether the namespace exists."""


class NamespaceClaims:
    """Judges the namespace claims of one plan's Kubernetes changes."""

    def __init__(
        self, inventory: Inventory, controller_namespace: str, exists: Exists, base: TrustedBase | None = None
    ) -> None:
        """`base`: the trusted base of the plan, whose tenants keep the namespaces they declare there when no record
        says whose a namespace is (None: no base decides, and two claimants are both refused)."""
        self.inventory = inventory
        self.controller_namespace = controller_namespace
        self.exists = exists
        self.base = base
        self._declared: dict[str, set[str]] | None = None

    def review(self, changes: Sequence[Change]) -> list[Change]:
        """The changes with every refused tenant's changes blocked (same order, one change for each)."""
        claims: dict[str, list[Change]] = {}
        for change in changes:
            if change.ref.kind == NAMESPACE and change.action is not Action.delete and change.tenant:
                claims.setdefault(change.ref.name, []).append(change)
        verdicts: list[tuple[str, str, str | None]] = []
        for name, claimants in claims.items():
            tenants = {c.tenant for c in claimants if c.tenant}
            for change in claimants:
                tenant = change.tenant or ""
                verdicts.append((name, tenant, self._refusal(name, tenant, change, tenants - {tenant})))
        looked = sorted({name for name, _, why in verdicts if why == _LOOK})
        found = self.exists(looked) if looked else {}
        refused: dict[str, str] = {}
        for name, tenant, verdict in verdicts:
            why = _existing(found.get(name, "not looked up")) if verdict == _LOOK else verdict
            if why and tenant not in refused:
                refused[tenant] = f"{RULE}: tenant {tenant!r} may not use namespace {name!r}: {why}"
        return [_blocked(c, refused[c.tenant]) if c.tenant in refused else c for c in changes]

    def _refusal(self, name: str, tenant: str, change: Change, others: set[str]) -> str | None:
        if reserved(name):
            return "it is reserved for the cluster (default, kube-*)"
        if name == self.controller_namespace:
            return "it is mlcp's controller namespace, where its inventory and state live"
        record = self.inventory.owner_of(change.ref)
        if record is not None and record.error is not None:
            return f"mlcp's inventory record of it is unreadable ({record.error}); repair the record first"
        owner = record.tenant if record is not None else None
        if owner is not None:
            return None if owner == tenant else f"mlcp's inventory records it as the namespace of tenant {owner!r}"
        trusted = self.declared(name)
        if trusted - {tenant} and self.base is not None:
            rivals = ", ".join(repr(t) for t in sorted(trusted - {tenant}))
            return (
                f"tenant(s) {rivals} declare it in the trusted base {self.base.revision[:12]} and no inventory record "
                "says whose it is; choose another namespace"
            )
        if others and tenant not in trusted:
            declared = ", ".join(repr(t) for t in sorted(others))
            return f"tenant(s) {declared} declare it too and no inventory record says whose it is"
        if change.ref in self.inventory.refs or adopting(change):
            return None  # made by an mlcp that kept no records (its one claimant is its tenant), or adopted
        if change.action is not Action.create:
            return f"it exists with mlcp's labels but mlcp's inventory does not record making it; {ADOPT_HINT}"
        return _LOOK

    def declared(self, name: str) -> set[str]:
        """The tenants that declare namespace `name` in the trusted base (built on the first claim no record
        decides: a plan whose claims the inventory settles never walks the base's tenants)."""
        if self.base is None:
            return set()
        if self._declared is None:
            self._declared = {}
            for tenant, spec in self.base.tenants.items():
                self._declared.setdefault(spec.namespace, set()).add(tenant)
        return self._declared.get(name, set())


def _existing(found: bool | str) -> str | None:
    if isinstance(found, str):
        return f"cannot tell whether it exists ({found})"
    return f"it exists and mlcp did not create it; {ADOPT_HINT}" if found else None


def appeared(change: Change, absent: set[str], exists: Exists) -> str | None:
    """Why a Namespace create must not be sent now: the namespace appeared since the plan was reviewed
    (a saved plan applied later); `absent` are namespaces the plan's own review just found absent."""
    name = change.ref.name
    if change.ref.kind != NAMESPACE or change.action is not Action.create or adopting(change) or name in absent:
        return None
    found = exists([name]).get(name, "not looked up")
    if isinstance(found, str):
        return f"{RULE}: cannot tell whether namespace {name!r} exists ({found}); not creating it"
    if found:
        return (
            f"{RULE}: namespace {name!r} exists and mlcp did not create it (it appeared since the plan); {ADOPT_HINT}"
        )
    return None


def _blocked(change: Change, reason: str) -> Change:
    """Blocked, and denied under the rule: the authorizer keeps a denial a backend's review made."""
    return replace(change, blocked=reason, decision=Decision(False, RULE, reason.removeprefix(f"{RULE}: ")))
