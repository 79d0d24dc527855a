"""Desired state of a new revision from the previous one: only the tenants whose files changed are read again.

Loading and rendering a 1,000-tenant repo takes seconds; a commit usually
touches one tenant. The repo is kept as slices — the shared part (mlcp.yaml,
policies/, anything directly under tenants/) and one slice per tenant folder
— each with its rendered objects. On a new revision `git diff base..head`
names the changed files: the folders they are in are loaded again, every
other slice is reused. A change outside `tenants/<t>/`, or a revision that
does not descend from the last one, reads everything again.

Validation is by slice too (`validation.validate_part`): no check reads two
tenants' specs, so a slice's findings are kept while the slice and the set
of tenant names are unchanged; a new or removed tenant validates again only
the slices claiming a registry name it could own or have owned.
A tenant's objects are rendered again when its files changed, when it was
left out of or came back into the desired state, or when it promotes a model
another such tenant promotes too (the first promotion of a model carries
its permissions).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

from controlplane import registry_names, validation
from controlplane.errors import Diagnostic
from controlplane.loading.budgets import Budget, Usage
from controlplane.loading.listing import is_tenant_folder
from controlplane.loading.repo import ConfigRepo, load_folder, load_repo
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject, SpecKey
from controlplane.rendering import RenderContext, render_specs
from controlplane.specs import ModelPromotion
from reconciler import gitsource, partition
from reconciler.desired import Desired
from reconciler.refindex import RefIndex

TENANTS = "tenants"


@dataclass
class Snapshot:
    """One revision, sliced by tenant folder, with the objects rendered so far."""

    root: Path
    revision: str
    shared: ConfigRepo
    tenants: dict[str, ConfigRepo]
    commits: dict[str, str]
    rendered: dict[str, list[DesiredObject]] = field(default_factory=dict)
    """Objects per tenant of the desired state (tenants set aside are absent)."""
    broken: frozenset[str] = frozenset()
    objects: list[DesiredObject] = field(default_factory=list)
    """Every object of the desired state, sorted by rank and ref (`render`)."""
    shared_objects: list[DesiredObject] = field(default_factory=list)
    """The objects of the specs outside tenant folders (rendered again with every revision)."""
    folders: frozenset[str] = frozenset()
    """The tenant folders of this revision (`tenant_folders`)."""
    names: frozenset[str] = frozenset()
    """The tenant names the findings were validated with (`registry_names.tenant_names` of the whole repo)."""
    established: registry_names.Established | None = None
    """The trusted base's tenants the findings were validated with (they keep their registry names)."""
    findings: dict[str, tuple[Diagnostic, ...]] = field(default_factory=dict)
    """The problems of each tenant slice that has any (`validation.validate_part`), for its slice in `tenants`."""
    claims: dict[str, list[str]] = field(default_factory=dict)
    """The registry names each tenant slice claims, for the tenants claiming any."""
    refs: RefIndex | None = None
    """`objects` by ref: built when the whole revision is rendered, derived from the last revision's after."""

    def ref_index(self) -> RefIndex:
        if self.refs is None:
            self.refs = RefIndex.of(self.objects)
        return self.refs


def tenant_folders(root: Path) -> list[str]:
    """The tenant folders `load_repo` would walk into: real, non-hidden directories under tenants/ named as a
    tenant may be (`load_repo` reports any other as a problem of the whole repo, and reads nothing in it)."""
    base = root / TENANTS
    if base.is_symlink() or not base.is_dir():
        return []
    with os.scandir(base) as entries:  # the entries' types, without a stat per folder (10,000 tenants)
        return sorted(
            e.name
            for e in entries
            if not e.name.startswith(".") and e.is_dir(follow_symlinks=False) and is_tenant_folder(e.name)
        )


def merged(snapshot: Snapshot) -> ConfigRepo:
    """The whole repo, in `load_repo`'s order: shared specs first, then tenant folders by name."""
    parts = [snapshot.shared, *(snapshot.tenants[t] for t in sorted(snapshot.tenants))]
    return replace(
        snapshot.shared,
        specs=[s for p in parts for s in p.specs],
        diagnostics=[d for p in parts for d in p.diagnostics],
        files=sum(p.files for p in parts),
        refused={k for p in parts for k in p.refused},
    )


def read_all(root: Path, revision: str) -> Snapshot:
    folders = tenant_folders(root)
    budget = Budget()  # one for the whole read: the repo's limits bound the slices together
    shared = load_repo(root, skip=frozenset(f"{TENANTS}/{t}" for t in folders), budget=budget)
    tenants = {t: load_folder(root, f"{TENANTS}/{t}", budget) for t in folders}
    files = (s.source.path for part in (shared, *tenants.values()) for s in part.specs)
    snapshot = Snapshot(shared.root, revision, shared, tenants, gitsource.inspect(root, files).commits)
    snapshot.folders = frozenset(folders)
    return snapshot


def read_changed(last: Snapshot, root: Path, revision: str) -> tuple[Snapshot, set[str]] | None:
    """The new revision with only changed tenant folders read again, and those tenants; None: read it all."""
    if last.root != root.resolve():
        return None
    delta = gitsource.delta(root, last.revision, revision)
    if delta is None:
        return None
    changed = {partition.tenant_of_path(p) for p in delta.paths}
    if None in changed:
        return None
    names = {t for t in changed if t is not None}
    folders = set(tenant_folders(root))
    tenants = {t: repo for t, repo in last.tenants.items() if t not in names}
    kept = Usage()
    for part in (last.shared, *tenants.values()):
        kept.add(part.usage)
    budget = Budget(repo=kept)  # the folders read again count against what the others already hold
    tenants.update({t: load_folder(root, f"{TENANTS}/{t}", budget) for t in names & folders})
    rendered = {t: objs for t, objs in last.rendered.items() if t not in names}
    snapshot = Snapshot(last.root, revision, last.shared, tenants, {**last.commits, **delta.commits}, rendered)
    snapshot.folders = frozenset(folders)
    return snapshot, names


def validated(snapshot: Snapshot, last: Snapshot | None, changed: set[str]) -> list[Diagnostic]:
    """`validate(merged(snapshot))`, validating again only the slices that changed (`validation.validate_part`).

    `changed`: the tenant folders read again since `last` (every other slice is the very same object). A kept
    slice's findings are `last`'s unless a tenant that could own one of its registry names came or went, in the
    revision or in the trusted base (`snapshot.established`): an owner is a tenant whose name the registry name
    starts with. Only slices with findings or claims are kept in `findings` and `claims`, so nothing here walks
    every tenant.
    """
    shared = snapshot.shared
    names = snapshot.folders | frozenset(snapshot.tenants)
    names |= {s.tenant for s in shared.specs if s.tenant} | {k.tenant for k in shared.refused if k.tenant}
    snapshot.names = names
    owners = registry_names.Owners(names, snapshot.established)
    if last is None:
        again: set[str] = set(snapshot.tenants)
    else:
        snapshot.findings = {t: f for t, f in last.findings.items() if t not in changed}
        snapshot.claims = {t: c for t, c in last.claims.items() if t not in changed}
        again = changed & snapshot.tenants.keys()
        moved = (names ^ last.names) | (_deciding(snapshot) ^ _deciding(last))
        if moved:
            again |= {t for t, claims in snapshot.claims.items() if any(n.startswith(m) for n in claims for m in moved)}
        if _base_revision(snapshot) != _base_revision(last):  # named in the findings that name the base
            again |= snapshot.findings.keys() & snapshot.tenants.keys()
    for tenant in again:
        part = snapshot.tenants[tenant]
        snapshot.findings.pop(tenant, None)
        snapshot.claims.pop(tenant, None)
        found = validation.validate_part(part, owners)
        if found:
            snapshot.findings[tenant] = tuple(found)
        claimed = registry_names.claimed_names(part)
        if claimed:
            snapshot.claims[tenant] = claimed
    problems = validation.validate_part(shared, owners)
    problems.extend(d for findings in snapshot.findings.values() for d in findings)
    problems.extend(_names_taken(snapshot, owners))
    return sorted(problems, key=validation.sort_key)


def _names_taken(snapshot: Snapshot, owners: registry_names.Owners) -> Iterator[Diagnostic]:
    """`registry_names.names_taken` of each Tenant the trusted base does not know: found afresh every time (a
    newcomer's finding depends on other slices), reading only the few slices whose names a newcomer's extends."""
    if owners.established is None:
        return
    for tenant in sorted(snapshot.tenants.keys() - owners.established.tenants):
        for loaded in snapshot.tenants[tenant].of_kind("Tenant"):
            yield from registry_names.names_taken(loaded, owners, lambda t: _promotions(snapshot, t))


def _promotions(snapshot: Snapshot, tenant: str) -> list[LoadedSpec]:
    part = snapshot.tenants.get(tenant)
    return part.of_kind("ModelPromotion") if part is not None else []


def _deciding(snapshot: Snapshot) -> frozenset[str]:
    """The tenants whose names decide first who owns a model name: the trusted base's (every tenant's, without
    one: the same owners as the revision's names give)."""
    return snapshot.names if snapshot.established is None else snapshot.established.tenants


def _base_revision(snapshot: Snapshot) -> str | None:
    return snapshot.established.revision if snapshot.established is not None else None


def _models(specs: list[LoadedSpec]) -> set[str]:
    return {cast(ModelPromotion, s.spec).spec.model for s in specs if s.spec.kind == "ModelPromotion"}


def _stale(snapshot: Snapshot, last: Snapshot | None, changed: set[str]) -> set[str]:
    """Tenants whose rendered objects may differ from last time (beyond those not rendered yet)."""
    stale = changed | (snapshot.broken ^ (last.broken if last else frozenset()))
    models: set[str] = set()
    for tenant in stale:
        for repo in (snapshot.tenants.get(tenant), last.tenants.get(tenant) if last else None):
            models |= _models(repo.specs) if repo else set()
    if models:
        stale |= {t for t, repo in snapshot.tenants.items() if _models(repo.specs) & models}
    return stale


def render(snapshot: Snapshot, repo: ConfigRepo, last: Snapshot | None, changed: set[str]) -> list[DesiredObject]:
    """Objects of the desired state `repo`: shared specs always, tenants only when stale or not yet rendered."""
    ctx = RenderContext(repo, snapshot.commits)
    for tenant in _stale(snapshot, last, changed):
        snapshot.rendered.pop(tenant, None)
    by_tenant: dict[str, list[LoadedSpec]] = {}
    shared: list[LoadedSpec] = []
    for spec in repo.specs:
        if spec.tenant is None:
            shared.append(spec)
        elif spec.tenant not in snapshot.rendered:
            by_tenant.setdefault(spec.tenant, []).append(spec)
    for tenant, specs in by_tenant.items():
        snapshot.rendered[tenant] = render_specs(specs, ctx)
    for tenant in [t for t in snapshot.rendered if t in snapshot.broken or t not in snapshot.tenants]:
        del snapshot.rendered[tenant]
    snapshot.shared_objects = render_specs(shared, ctx)
    if last is None or not last.objects:
        objects = snapshot.shared_objects + [o for objs in snapshot.rendered.values() for o in objs]
        snapshot.objects = sorted(objects, key=_order)
        snapshot.refs = RefIndex.of(snapshot.objects)  # built with the whole revision; later ones derive theirs
        return snapshot.objects
    snapshot.objects = _resorted(last, snapshot)
    return snapshot.objects


def _by_tenant(snapshot: Snapshot) -> dict[str, list[DesiredObject]]:
    """The desired objects by tenant ("" for none): the rendered lists themselves (an object has the tenant of
    the folder its spec is in), with the shared specs' objects."""
    found: dict[str, list[DesiredObject]] = dict(snapshot.rendered)
    shared: dict[str, list[DesiredObject]] = {}
    for obj in snapshot.shared_objects:
        shared.setdefault(obj.tenant or "", []).append(obj)
    for tenant, objects in shared.items():
        found[tenant] = [*found.get(tenant, ()), *objects]
    return found


def _order(obj: DesiredObject) -> tuple[int, str, str, str, str, str]:
    """Rank, then ref: plain strings, so sorting compares tuples in C (the ref's own order, field by field)."""
    ref = obj.ref
    return (obj.rank, ref.system, ref.api_version, ref.kind, ref.namespace or "", ref.name)


def _resorted(last: Snapshot, snapshot: Snapshot) -> list[DesiredObject]:
    """`last.objects` with the objects that changed taken out and the new ones put in their places: a commit
    to one tenant moves a few objects instead of sorting 90,000 again (the same list a full sort gives)."""
    removed = list(last.shared_objects)
    new = list(snapshot.shared_objects)
    for tenant in last.rendered.keys() | snapshot.rendered.keys():
        before, after = last.rendered.get(tenant), snapshot.rendered.get(tenant)
        if before is not after:
            removed.extend(before or ())
            new.extend(after or ())
    if last.refs is not None:  # the index a pass built for the last revision, carried (refindex.py)
        snapshot.refs = last.refs.replaced(removed, new)
    objects = _without(last.objects, removed)
    for obj in sorted(new, key=_order):
        bisect.insort_right(objects, obj, key=_order)
    return objects


def _without(objects: list[DesiredObject], removed: list[DesiredObject]) -> list[DesiredObject]:
    """A copy of the sorted `objects` without the very objects `removed` (all of them among `objects`): each
    found by binary search, then among its equals by identity; many removed at once: one filter."""
    if len(removed) * 64 <= len(objects):
        kept = list(objects)
        for obj in removed:
            at = bisect.bisect_left(kept, _order(obj), key=_order)
            while at < len(kept) and kept[at] is not obj:
                at += 1
            if at == len(kept):
                break  # not there after all: filter instead
            del kept[at]
        else:
            return kept
    gone = {id(o) for o in removed}
    return [o for o in objects if id(o) not in gone]


def _differing(before: dict[str, list[DesiredObject]], after: dict[str, list[DesiredObject]]) -> set[str]:
    """Tenants whose rendered objects are not the very same list as before (reused lists are unchanged)."""
    return {t for t in before.keys() | after.keys() if before.get(t) is not after.get(t)}


class _SliceKeys(Mapping[SpecKey, LoadedSpec]):
    """The desired repo's specs by key, looked up in the key's own slice (each slice indexes its few specs):
    the specs outside tenants/ and those of every tenant not set aside, as `merged` less `broken` holds."""

    def __init__(self, snapshot: Snapshot, broken: frozenset[str]) -> None:
        self._shared, self._tenants, self._broken = snapshot.shared, snapshot.tenants, broken

    def _slice(self, tenant: str | None) -> ConfigRepo | None:
        if tenant is None:
            return self._shared
        return None if tenant in self._broken else self._tenants.get(tenant)

    def __getitem__(self, key: SpecKey) -> LoadedSpec:
        part = self._slice(key.tenant)
        found = part.spec(key) if part is not None else None
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[SpecKey]:
        for tenant in (None, *sorted(self._tenants)):
            part = self._slice(tenant)
            yield from (s.key for s in part.specs) if part is not None else ()

    def __len__(self) -> int:
        return sum(1 for _ in self)


class IncrementalLoader:
    """`partition.load`, reusing what the previous revision read and rendered."""

    def __init__(self) -> None:
        self._last: Snapshot | None = None
        self.reloaded: set[str] | None = None
        """Tenants read again by the last `load`; None when everything was (for logs and tests)."""
        self.rendered: set[str] | None = None
        """Tenants whose desired objects the last `load` changed (rendered again, added, removed, set aside or
        back); None when it rendered everything. The loop plans only these (reconciler.selection)."""

    def load(self, root: Path, revision: str, base: registry_names.Established | None = None) -> partition.Partitioned:
        """The desired state of `revision`; `base`: the trusted base's tenants, which keep the registry names they
        own there (None: not known yet, the revision's tenant folders decide)."""
        last, self._last = self._last, None  # a load that raises must not leave a half-updated snapshot
        found = read_changed(last, root, revision) if last is not None else None
        changed: set[str] = set()
        if found is None:
            snapshot, last = read_all(root, revision), None
        else:
            snapshot, changed = found
        snapshot.established = base
        self.reloaded = changed if last is not None else None
        repo, broken = partition.set_aside(merged(snapshot), validated(snapshot, last, changed))
        snapshot.broken = frozenset(broken)
        kept = dict(snapshot.rendered)
        objects = render(snapshot, repo, last, changed)
        self.rendered = None if last is None else _differing(kept, snapshot.rendered) | changed
        self._last = snapshot
        repo.keyed_by(_SliceKeys(snapshot, frozenset(broken)))
        desired = Desired(repo, objects, revision, _by_tenant(snapshot), snapshot.ref_index)
        return partition.Partitioned(desired, broken)
