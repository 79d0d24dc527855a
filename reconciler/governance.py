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
plan was applied (reconciler.nextbase). The system that holds the base is
reconciler.governance_backend; this module renders the objects.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from controlplane.errors import Diagnostic, InvalidConfig
from controlplane.loading import budgets
from controlplane.loading.budgets import Limits
from controlplane.loading.names import is_text, shown_name
from controlplane.loading.repo import CONFIG_FILE, ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import (
    Action,
    Change,
    Decision,
    DesiredObject,
    FieldDiff,
    ObjectRef,
    SpecKey,
)
from controlplane.specs import Tenant
from reconciler.backends.base import Outcome, Status
from reconciler.baselisting import POLICY_DIR
from reconciler.impersonation import Allowed
from reconciler.tenant_bindings import Person, people_in

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
    out.extend(o for loaded in people if tenants is None or loaded.tenant in tenants for o in tenant_objects(loaded))
    return out


_TENANT_OBJECTS: dict[int, tuple[LoadedSpec, tuple[DesiredObject, ...]]] = {}
"""Each loaded Tenant spec's rendered people and namespace, by the spec's identity: the loop renders the revision's
rules and the trusted base's every pass, and unchanged tenants keep their loaded spec objects
(reconciler.incremental, trust.load with a previous base), so 10,000 tenants are not rendered twice a pass."""
_TENANT_OBJECTS_KEPT = 50_000


def tenant_objects(loaded: LoadedSpec) -> tuple[DesiredObject, ...]:
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


def allowed_tenants(changes: Iterable[Change]) -> Allowed:
    """What the authorized plan lets each tenant's namespace and people become: only a creation or update of its
    `TenantNamespace` or `TenantMembership` that the base's policy allowed and nothing blocks. Which account writes
    a tenant's workloads follows from this and the base (reconciler.impersonation), never from the revision alone."""
    namespaces: dict[str, str] = {}
    people: dict[str, frozenset[Person]] = {}
    for change in changes:
        if change.ref.system != SYSTEM or change.ref.kind not in TENANT_KINDS or not change.tenant:
            continue
        if change.action not in (Action.create, Action.update) or change.blocked or change.desired is None:
            continue
        if change.decision is None or not change.decision.allowed:
            continue
        if change.ref.kind == NAMESPACE:
            namespaces[change.tenant] = str(change.desired["namespace"])
        else:
            people[change.tenant] = people_in(change.desired)
    return Allowed(namespaces, people)


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
