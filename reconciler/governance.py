"""Governance inputs as planned objects: a change to who judges is itself a change, shown and judged.

The AccessPolicy, the other files under `policies/` (the allowed signers),
`mlcp.yaml`, each tenant's people and each tenant's namespace decide what every
other change may do (the namespace: which changes follow a namespace move,
reconciler.tenantbound).
They are rendered here as objects of a system of their own, `governance`,
whose live state is the trusted base. The ordinary planner then shows every
difference between the base and the revision under review like any other
change, and the authorizer judges it by the base's policy. "Applying" one
writes nothing: it is accepted, and becomes trusted only when the revision is
recorded as applied, which happens only when every governance change of the
plan was applied (`next_base`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from controlplane.errors import Diagnostic, InvalidConfig
from controlplane.loading import budgets
from controlplane.loading.budgets import Limits
from controlplane.loading.names import is_text, shown_name
from controlplane.loading.repo import CONFIG_FILE, ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.planning import Inventory, InventoryRecord
from controlplane.plans import (
    Action,
    Change,
    Decision,
    DesiredObject,
    FieldDiff,
    LiveObject,
    ObjectRef,
    Plan,
    SpecKey,
    spec_text,
)
from controlplane.specs import Tenant
from reconciler.backends.base import ApplyOptions, Backend, LiveState, Outcome, Status
from reconciler.trust import POLICY_DIR, TrustedBase

SYSTEM = "governance"
API_VERSION = "mlcp.dev/v1alpha1"
RANK = 0
POLICY_FILE = "PolicyFile"
CONFIG = "Config"
MEMBERSHIP = "TenantMembership"
NAMESPACE = "TenantNamespace"
POLICY = "AccessPolicy"
TENANT = "Tenant"
AUTHORIZED_AS = {POLICY: POLICY, POLICY_FILE: POLICY, CONFIG: CONFIG, MEMBERSHIP: MEMBERSHIP, NAMESPACE: TENANT}
"""The AccessPolicy kind that authorizes a change of each governance object. A tenant's namespace is the Tenant's
to change (no new grant is needed), but the base supplies it to judging, so a refused move never becomes the base."""
PROTECTED_KINDS = frozenset({POLICY, CONFIG, MEMBERSHIP})
"""The kinds that are the rules themselves, granted only by a rule naming them (controlplane.policy.authorizer)."""
TENANT_KINDS = (MEMBERSHIP, NAMESPACE)
"""The governance objects of one tenant, each named after it: its people and its namespace."""


def _object(
    kind: str, name: str, manifest: dict[str, Any], spec: SpecKey, tenant: str | None, source: str
) -> DesiredObject:
    ref = ObjectRef(SYSTEM, API_VERSION, kind, None, name)
    return DesiredObject(ref, manifest, spec, tenant, source, RANK)


def _file_manifest(path: str, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    try:
        lines: list[str] | None = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        lines = None
    return {"path": path, "sha256": digest, "lines": lines}


def _membership(tenant: Tenant) -> dict[str, Any]:
    members = sorted(({"name": m.name, "kind": m.kind, "role": m.role} for m in tenant.spec.members), key=str)
    return {"owners": sorted(tenant.spec.owners), "members": members}


def render(repo: ConfigRepo, files: Mapping[str, bytes], tenants: frozenset[str] | None = None) -> list[DesiredObject]:
    """The governance objects of one revision: its policy, policy files, config and tenants' people (only
    these `tenants`' people when given: a pass that plans some tenants renders no one else's)."""
    out: list[DesiredObject] = []
    for loaded in repo.of_kind(POLICY):
        manifest = loaded.spec.model_dump(mode="json", by_alias=True)
        out.append(_object(POLICY, loaded.spec.metadata.name, manifest, loaded.key, None, loaded.source.path))
    for path, data in sorted(files.items()):
        if not path.endswith((".yaml", ".yml")):  # YAML under policies/ is the AccessPolicy, compared above
            out.append(
                _object(POLICY_FILE, path, _file_manifest(path, data), SpecKey.parse(f"{POLICY}/{path}"), None, path)
            )
    config = repo.config.model_dump(mode="json", by_alias=True)
    out.append(_object(CONFIG, CONFIG_FILE, config, SpecKey(CONFIG, None, CONFIG_FILE), None, CONFIG_FILE))
    people = repo.of_kind("Tenant")
    out.extend(o for loaded in people if tenants is None or loaded.tenant in tenants for o in _tenant_objects(loaded))
    return out


_TENANT_OBJECTS: dict[int, tuple[LoadedSpec, tuple[DesiredObject, ...]]] = {}
"""Each loaded Tenant spec's rendered people and namespace, by the spec's identity: the loop renders the revision's
rules and the trusted base's every pass, and unchanged tenants keep their loaded spec objects
(reconciler.incremental, trust.load with a previous base), so 10,000 tenants are not rendered twice a pass."""
_TENANT_OBJECTS_KEPT = 50_000


def _tenant_objects(loaded: LoadedSpec) -> tuple[DesiredObject, ...]:
    """The tenant's governance objects, one per kind of `TENANT_KINDS`, in that order."""
    known = _TENANT_OBJECTS.get(id(loaded))
    if known is not None and known[0] is loaded:  # the spec is kept with it, so its id is never reused
        return known[1]
    tenant = cast(Tenant, loaded.spec)
    name = loaded.tenant or tenant.metadata.name
    manifests = {MEMBERSHIP: _membership(tenant), NAMESPACE: {"namespace": tenant.namespace}}
    made = tuple(
        _object(kind, name, manifests[kind], SpecKey(kind, name, name), name, loaded.source.path)
        for kind in TENANT_KINDS
    )
    if len(_TENANT_OBJECTS) >= _TENANT_OBJECTS_KEPT:
        _TENANT_OBJECTS.clear()
    _TENANT_OBJECTS[id(loaded)] = (loaded, made)
    return made


def policy_files(root: Path, limits: Limits | None = None) -> dict[str, bytes]:
    """Regular files under `policies/` of a work tree (links and oversized files are the loader's errors).

    The revision under review is hostile input: `policies/` is held to a tenant folder's limits (files and
    bytes, `--limit tenant-files` / `tenant-bytes`), counted while walking, so a commit of a million files or of
    gigabytes under `policies/` is refused quickly and in bounded memory instead of being read. The walk keeps its
    own stack (`rglob` recursed, and folders nested a thousand deep ended the plan in a RecursionError), never
    follows a link, skips hidden names, and refuses a name that is not UTF-8, which would name a governance object
    no JSON encoder writes.
    """
    limits = limits or budgets.active()
    files: dict[str, bytes] = {}
    top = root / POLICY_DIR
    if not top.is_dir() or top.is_symlink():
        return files
    total, pending = 0, [POLICY_DIR]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(root / folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            rel = f"{folder}/{entry.name}"
            if entry.name.startswith(".") or entry.is_symlink():
                continue
            if not is_text(entry.name):
                raise InvalidConfig([_untext(rel)])
            if entry.is_dir(follow_symlinks=False):
                pending.append(rel)
                continue
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or info.st_size > limits.file_bytes:
                continue
            total += info.st_size
            if len(files) >= limits.tenant_files or total > limits.tenant_bytes:
                raise InvalidConfig([_over_limits(len(files) >= limits.tenant_files, limits)])
            files[rel] = (root / rel).read_bytes()
    return dict(sorted(files.items()))


def _untext(rel: str) -> Diagnostic:
    where = shown_name(rel)
    return Diagnostic(
        where,
        1,
        1,
        f"{where} is named with bytes that are not UTF-8 (shown here as \\x..); the revision is not planned",
        "rename it with a UTF-8 name (git mv)",
    )


def _over_limits(by_count: bool, limits: Limits) -> Diagnostic:
    what = f"more than {limits.tenant_files} files" if by_count else f"more than {limits.tenant_bytes} bytes"
    setting = "tenant-files" if by_count else "tenant-bytes"
    return Diagnostic(
        f"{POLICY_DIR}/",
        1,
        1,
        f"{POLICY_DIR}/ holds {what}, over the limit of a folder",
        f"keep only the rules and their files under {POLICY_DIR}/, or raise `--limit {setting}=N` "
        f"(MLCP_MAX_{setting.replace('-', '_').upper()}) if the operator trusts this repo's size",
        "budget",
    )


def full_diff(old: Any, new: Any, path: tuple[str, ...] = ()) -> list[FieldDiff]:
    """Every leaf that differs, keys present on one side included (governance has no server defaults)."""
    if isinstance(old, dict) and isinstance(new, dict):
        diffs: list[FieldDiff] = []
        for key in sorted(set(old) | set(new), key=str):
            diffs.extend(full_diff(old.get(key), new.get(key), (*path, str(key))))
        return diffs
    return [] if old == new else [FieldDiff(path, old, new)]


class GovernanceBackend(Backend):
    """The trusted base as a live system: reading it is free, applying to it writes nothing.

    Not registered: it is never connected from settings, but built by the engine from the trusted base.
    """

    system = SYSTEM
    order = 1000
    """Accepted after every other system's writes."""

    def __init__(self, base: TrustedBase, objects: dict[ObjectRef, DesiredObject] | None = None) -> None:
        self.base = base
        self.objects = objects if objects is not None else {o.ref: o for o in render(base.repo, base.files)}
        self._state: LiveState | None = None
        self._known: tuple[Inventory, frozenset[ObjectRef]] | None = None
        """The inventory of the backend this one was derived from, and the refs that differ (its records are
        reused: a record depends on its object only)."""

    @classmethod
    def of(cls, base: TrustedBase) -> GovernanceBackend:
        """The backend of a trusted base, kept while the base is: the loop judges pass after pass by the same
        base, whose live state (one object per tenant) is then built once, not once a pass; and the backend of
        the base that follows it (the revision the loop just applied) from this one, with only the changed
        tenants' people rendered again (`_derived`)."""
        for kept in _KEPT:
            if kept.base is base:
                return kept
        made = next((d for kept in _KEPT if (d := cls._derived(kept, base)) is not None), None) or cls(base)
        _KEPT.insert(0, made)
        del _KEPT[KEPT_BASES:]
        return made

    @classmethod
    def _derived(cls, kept: GovernanceBackend, base: TrustedBase) -> GovernanceBackend | None:
        """`base`'s backend from `kept`'s, when `base` was loaded from `kept.base` with only tenants' tenant.yaml
        changed (`base.since`: its policy, files, config and every other tenant's loaded spec are `kept.base`'s);
        else None. The objects are exactly `render(base.repo, base.files)`'s: the others' are the same objects
        rendered from the same specs, and the changed tenants' are rendered from the base's own parts."""
        since, parts = base.since, base.parts
        if since is None or parts is None or since[0] != kept.base.revision or base.shared is not kept.base.shared:
            return None
        if base.shared is None or base.shared.of_kind("Tenant") or base.files is not kept.base.files:
            return None  # a Tenant spec outside tenants/ could share a changed tenant's name: render it all
        objects = dict(kept.objects)
        touched = {ObjectRef(SYSTEM, API_VERSION, kind, None, tenant) for tenant in since[1] for kind in TENANT_KINDS}
        for ref in touched:
            objects.pop(ref, None)
        for tenant in sorted(since[1] & parts.keys()):
            rendered = [o for loaded in parts[tenant].of_kind("Tenant") for o in _tenant_objects(loaded)]
            objects.update((o.ref, o) for o in rendered)
            touched.update(o.ref for o in rendered)
        made = cls(base, objects)
        if kept._state is not None:
            made._known = (kept._state.inventory, frozenset(touched))
        return made

    @property
    def target(self) -> str:
        return f"trusted base {self.base.describe()}"

    def read(self) -> LiveState:
        """The base as live state (built once: it never changes, and nobody writes into a LiveState)."""
        if self._state is None:
            live = {ref: LiveObject(ref, o.manifest, self.base.revision) for ref, o in self.objects.items()}
            self._state = LiveState(live, self._inventory())
            self._known = None
        return self._state

    def _inventory(self) -> Inventory:
        """The base's objects as mlcp's records; from the backend this one was derived from, when it was: only
        the `touched` refs' records are made, and its index by tenant is moved, not rebuilt."""
        if self._known is None:
            records = {ref: _record(o) for ref, o in self.objects.items()}
            return Inventory(frozenset(self.objects), records=records)
        kept, touched = self._known
        return kept.replaced({ref: _record(self.objects[ref]) for ref in touched if ref in self.objects}, touched)

    def review(self, changes: Sequence[Change]) -> list[Change]:
        """Exact diffs against the base, and deletes attributed from the base (they delete nothing live)."""
        out = []
        for change in changes:
            before = self.objects.get(change.ref)
            if change.action is Action.delete and before is not None:
                out.append(
                    replace(
                        change,
                        spec=before.spec,
                        tenant=before.tenant,
                        source=before.source,
                        blocked=None,
                        reason="removed from the revision under review",
                        diffs=tuple(full_diff(before.manifest, None)),
                    )
                )
                continue
            if before is None or change.desired is None:
                out.append(change)
                continue
            diffs = tuple(full_diff(before.manifest, change.desired))
            if not diffs:
                out.append(replace(change, action=Action.noop, reason="same as the trusted base", diffs=()))
                continue
            fields = ", ".join(d.dotted for d in diffs[:3]) + (", …" if len(diffs) > 3 else "")
            out.append(
                replace(change, action=Action.update, reason=f"differs from the trusted base: {fields}", diffs=diffs)
            )
        return out

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        status = Status.deleted if change.action is Action.delete else Status.applied
        return Outcome(change, status, "accepted; trusted once this revision is recorded as applied")

    def current_version(self, ref: ObjectRef) -> str | None:
        return self.base.revision if ref in self.objects else None

    @property
    def partial_inventory(self) -> bool:
        return True  # it records nothing: no need to be handed the objects a pass did not plan

    def record_inventory(self, refs: frozenset[ObjectRef], options: ApplyOptions) -> None:
        """Nothing to record: the applied revision, kept by the cluster backend, is this system's state."""


def _record(obj: DesiredObject) -> InventoryRecord:
    return InventoryRecord(spec_text(obj.spec), obj.tenant, obj.source)


KEPT_BASES = 2
_KEPT: list[GovernanceBackend] = []
"""The backends of the last trusted bases (engine.load_trusted keeps the bases themselves)."""


def refusal(rule: str, reason: str, source: str | None, tenant: str | None = None, name: str | None = None) -> Outcome:
    """A refusal of a whole revision or tenant (or of what `name` says), as an outcome the audit log records like a
    denied change."""
    name = name or tenant or source or "revision"
    change = Change(
        ref=ObjectRef(SYSTEM, API_VERSION, "Refusal", None, name),
        action=Action.update,
        reason=reason,
        spec=None,
        tenant=tenant,
        source=source,
        rank=RANK,
        blocked=reason,
        decision=Decision(False, rule, reason),
    )
    return Outcome(change, Status.skipped, reason)


def pending(plan: Plan) -> list[Change]:
    return [c for c in plan.pending if c.ref.system == SYSTEM]


def next_base(plan: Plan, base: str | None, people: frozenset[str] | None = None) -> str | None:
    """The revision to record as applied: the plan's when no governance change of it is blocked (they cannot
    fail: applying one writes nothing), else the base it was judged by. A denied change to the rules must never
    become the next judge.

    `people`: every tenant whose people or namespace differ between the whole revision and the base
    (`differing_tenants`), for a plan that may hold only some tenants' (the loop plans the tenants that changed).
    Each one's change must then be in the plan, allowed and not blocked: one the plan left out (a tenant not
    selected, a tenant backing off) keeps the base, as a denied one does. A tenant's governance objects are planned
    together, so a blocked one of them keeps the base above. The other governance objects (the policy, its files,
    mlcp.yaml) are in every plan. None: the plan holds every tenant's (a full plan: `mlcp apply`).
    """
    changes = pending(plan)
    if any(c.blocked for c in changes):
        return base
    if people:
        accepted = {
            c.ref.name for c in changes if c.ref.kind in TENANT_KINDS and c.decision is not None and c.decision.allowed
        }
        if not people <= accepted:
            return base
    return plan.revision


def tenant_differs(repo: ConfigRepo, keeper: GovernanceBackend, tenant: str) -> bool:
    """Whether `tenant`'s people (owners and members) or namespace in the revision `repo` are not those of the
    trusted base `keeper` holds: changed, or the tenant came or went."""
    loaded = repo.spec(SpecKey(TENANT, tenant, tenant))
    ours = _tenant_objects(loaded) if loaded is not None and isinstance(loaded.spec, Tenant) else ()
    if not ours:
        return any(ObjectRef(SYSTEM, API_VERSION, kind, None, tenant) in keeper.objects for kind in TENANT_KINDS)
    for obj in ours:
        theirs = keeper.objects.get(obj.ref)
        if theirs is None or (obj.manifest != theirs.manifest and full_diff(theirs.manifest, obj.manifest)):
            return True
    return False


def differing_tenants(repo: ConfigRepo, keeper: GovernanceBackend, tenants: Iterable[str] | None = None) -> set[str]:
    """Of `tenants` (None: every tenant of the revision or the base), those whose people or namespace differ
    (`tenant_differs`)."""
    if tenants is None:
        ours = {loaded.tenant or loaded.spec.metadata.name for loaded in repo.of_kind(TENANT)}
        tenants = ours | {ref.name for ref in keeper.objects if ref.kind in TENANT_KINDS}
    return {tenant for tenant in tenants if tenant_differs(repo, keeper, tenant)}


def advances(plan: Plan) -> bool:
    """Whether applying `plan` would record a new trusted base, even with nothing else to write.

    A revert of a denied commit restores what is live, so its plan is empty; it must still be applied and
    recorded, or the reverted commit stays in every later range and is charged to whoever touches its files next.
    """
    trusted = plan.meta.get("trustedBase") or {}
    base = trusted.get("revision")
    revision = next_base(plan, base)
    return revision is not None and (revision != base or trusted.get("origin") != "applied")
