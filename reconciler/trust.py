"""The trusted base: the revision whose rules judge every change after it.

A commit must never choose its own judge. So everything that decides whether a
change is allowed — the AccessPolicy, group and tenant memberships behind
`@own`, the allowed signers, approval rules and `mlcp.yaml` — is read from the
last applied revision (recorded by mlcp in the cluster), or from the revision
the operator names with `--trusted-base` / `MLCP_TRUSTED_BASE`, never from the
revision under review. With neither, mlcp refuses: the first committer is
never trusted by default.

Only the files that carry trust are read from the base (`mlcp.yaml`,
`policies/**`, `tenants/<t>/tenant.yaml`, as reconciler.baselisting lists
them), straight from git's object store, and loaded from memory with the same
hardened loader (walk, refusals, budgets) as any spec. Nothing of the base is
written to disk but its allowed_signers file, which git's signature check
needs as a file, to a private folder. Which commit a name denotes, and which of
the two revisions judges, is reconciler.baserevision's.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import cast

from controlplane import registry_names
from controlplane.errors import Diagnostic, MlcpError
from controlplane.loading import budgets
from controlplane.loading.placement import TENANT_FILE
from controlplane.loading.repo import ConfigRepo, load_folder, load_tree
from controlplane.loading.trees import MemoryTree
from controlplane.specs import AccessPolicy, Tenant
from reconciler import baselisting, gitenv
from reconciler.baselisting import POLICY_DIR, TENANTS, Entry
from reconciler.baserevision import ENV, FLAG, resolve


@dataclass(frozen=True)
class TrustedBase:
    """The governance inputs of one trusted revision."""

    revision: str
    origin: str
    """`applied` (recorded by mlcp in the cluster) or `operator` (named by --trusted-base / MLCP_TRUSTED_BASE)."""
    repo: ConfigRepo
    """mlcp.yaml, the policies and the Tenant specs of the base (no other specs are read)."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Every regular file under policies/ of the base, by repo-relative path (e.g. the allowed signers)."""
    signers: Path | None = None
    """The base's allowed_signers file, written to a private path git can read, when the policy names one."""
    listing: Mapping[str, Entry] = field(default_factory=dict, compare=False, repr=False)
    """Every governance path of the revision and its blob, so a later base reads only what changed."""
    shared: ConfigRepo | None = field(default=None, compare=False, repr=False)
    """mlcp.yaml and policies/ as loaded (with `parts`, what `load(previous=)` reuses)."""
    parts: Mapping[str, ConfigRepo] | None = field(default=None, compare=False, repr=False)
    """Each tenant folder's tenant.yaml as loaded, by tenant."""
    limits: budgets.Limits | None = field(default=None, compare=False, repr=False)
    """The limits `listing` was made under (its size refusals depend on them)."""
    since: tuple[str, frozenset[str]] | None = field(default=None, compare=False, repr=False)
    """When derived from an earlier base whose only governance change is tenants' tenant.yaml: that base's
    revision and those tenants (so the next pass and the governance backend need not compare listings)."""
    derived_tenants: Mapping[str, Tenant] | None = field(default=None, compare=False, repr=False)
    """`tenants` as a reload derived it from the earlier base's (`_derived_tenants`); None: built from `repo`."""

    @cached_property
    def policy(self) -> AccessPolicy | None:
        """Kept once found: a base never changes. Looked up in `shared` when the base has it: an AccessPolicy
        lives only under policies/ (loading refuses it in a tenant folder), so not among 10,000 tenants' specs."""
        found = (self.shared or self.repo).of_kind("AccessPolicy")
        return cast(AccessPolicy, found[0].spec) if found else None

    @cached_property
    def tenants(self) -> Mapping[str, Tenant]:
        """Each tenant's people, kept once built (read-only: every authorizer of the base shares it)."""
        if self.derived_tenants is not None:
            return self.derived_tenants
        return MappingProxyType({s.tenant: cast(Tenant, s.spec) for s in self.repo.of_kind("Tenant") if s.tenant})

    @cached_property
    def established(self) -> registry_names.Established:
        """The tenants of the base (a tenant.yaml, loaded or refused, or a Tenant spec): they keep the registry
        names they own among themselves, whatever folder the revision under review adds."""
        names = set(self.parts) if self.parts is not None else set()
        names |= self.tenants.keys()  # kept once built, derived from the last base's in the loop
        names |= {k.tenant for k in self.repo.refused if k.tenant}
        return registry_names.Established(frozenset(names), self.revision, tuple(self.repo.config.artifacts.roots))

    @property
    def problems(self) -> list[Diagnostic]:
        return self.repo.diagnostics

    def describe(self) -> str:
        how = "last applied revision" if self.origin == "applied" else f"named by the operator ({FLAG} / ${ENV})"
        return f"{self.revision[:12]} ({how})"


_PRIVATE: list[Path] = []


def _private_dir() -> Path:
    if not _PRIVATE:
        _PRIVATE.append(Path(tempfile.mkdtemp(prefix="mlcp-trust-")))
        atexit.register(shutil.rmtree, _PRIVATE[0], True)
    return _PRIVATE[0]


def load(repo_path: Path, revision: str, origin: str, previous: TrustedBase | None = None) -> TrustedBase:
    """Read the governance files of `revision` from git (never from the work tree) and load them.

    With `previous` (a base of the same repo loaded earlier), when the two differ only in tenants'
    `tenant.yaml` files, only those are read and loaded again and every other part is `previous`'s: the
    loop's next base is nearly always the revision it just applied, a commit or two after the last one, and
    reading 1,001 files for one changed tenant was most of a pass. A file is reused only when git names the
    same blob at the same path, so the result is the one a full load gives.
    """
    sha = resolve(repo_path, revision)
    limits = budgets.active()
    kept = None
    if previous is not None and previous.shared is not None and previous.parts is not None:
        kept = (previous, previous.shared, previous.parts) if previous.limits == limits else None
    if kept is not None:
        since = baselisting.listing_since(repo_path, kept[0].revision, kept[0].listing, sha, limits)
        if since is not None:
            return _reload_tenants(repo_path, kept, sha, origin, *since)
    listing, diagnostics = baselisting.list_paths(repo_path, sha, limits)
    if kept is not None:
        changed = baselisting.changed_tenant_files(kept[0].listing, listing)
        if changed is not None:
            return _reload_tenants(repo_path, kept, sha, origin, listing, changed)
    paths = [path for path, entry in listing.items() if entry.readable]
    contents = dict(zip(paths, _read_blobs(repo_path, [listing[path].blob for path in paths]), strict=True))
    tree = MemoryTree(_root_of(sha), contents)
    files = {path: data for path, data in contents.items() if path.startswith(f"{POLICY_DIR}/")}
    budget = budgets.Budget(limits)
    folders = baselisting.tenant_folders(listing)
    shared = load_tree(tree, skip=frozenset(f"{TENANTS}/{t}" for t in folders), budget=budget)
    shared.diagnostics[:0] = diagnostics
    parts = {t: load_folder(tree, f"{TENANTS}/{t}", budget) for t in folders}
    base = TrustedBase(sha, origin, _merged(shared, parts), files, None, listing, shared, parts, limits)
    return replace(base, signers=_signers(base))


def _root_of(sha: str) -> Path:
    """The root a base's ConfigRepo names: a path in the private folder that nothing is written to (the base
    is never read from disk; never the config repo's work tree either, which the revision under review owns)."""
    return _private_dir() / f"base-{sha}"


def changed_tenants(previous: TrustedBase | None, base: TrustedBase) -> set[str] | None:
    """The tenants whose people differ between two bases of one repo; None when more differs (or is unknown)."""
    if previous is None or not previous.listing or not base.listing:
        return None
    if previous is base:  # the same base judged the last pass (the loop keeps it): no walk over its files
        return set()
    if base.since is not None and base.since[0] == previous.revision and base.limits == previous.limits:
        return set(base.since[1])  # what `load(previous=)` found from git's diff: no walk either
    return baselisting.changed_tenant_files(previous.listing, base.listing)


def _reload_tenants(
    repo_path: Path,
    kept: tuple[TrustedBase, ConfigRepo, Mapping[str, ConfigRepo]],
    sha: str,
    origin: str,
    listing: dict[str, Entry],
    changed: set[str],
) -> TrustedBase:
    """The `kept` base (with its shared part and tenant parts, as loaded) with the tenant.yaml of `changed`
    tenants read again; the rest is the same blobs."""
    previous, shared, previous_parts = kept
    parts = {t: repo for t, repo in previous_parts.items() if t not in changed}
    present = sorted(t for t in changed if f"{TENANTS}/{t}/{TENANT_FILE}" in listing)
    # what the shared part and the kept tenants hold: the previous base's total less the changed tenants' parts
    # (its total is theirs summed, `_merged`), not a sum over every tenant again
    others = _less(previous.repo.usage, [previous_parts[t].usage for t in changed if t in previous_parts])
    if present:
        budget = budgets.Budget(repo=replace(others))  # the files read again count against what the others hold
        paths = [f"{TENANTS}/{t}/{TENANT_FILE}" for t in present]
        contents = dict(zip(paths, _read_blobs(repo_path, [listing[p].blob for p in paths]), strict=True))
        tree = MemoryTree(_root_of(sha), contents)
        parts.update({t: load_folder(tree, f"{TENANTS}/{t}", budget) for t in present})
    since = (previous.revision, frozenset(changed))
    merged = _merged(shared, parts, _more(others, [parts[t].usage for t in present]))
    tenants = _derived_tenants(previous, previous_parts, parts, changed)
    return TrustedBase(
        sha, origin, merged, previous.files, previous.signers, listing, shared, parts, previous.limits, since, tenants
    )


def _derived_tenants(
    previous: TrustedBase, previous_parts: Mapping[str, ConfigRepo], parts: Mapping[str, ConfigRepo], changed: set[str]
) -> Mapping[str, Tenant] | None:
    """`TrustedBase.tenants` of a base reloaded from `previous` with only `changed` tenants' tenant.yaml read again:
    `previous`'s with those tenants' entries replaced (a dict copy, not a walk of every tenant's specs); None
    (build it whole) unless no Tenant spec lies outside tenants/ and every Tenant spec of a changed folder, before
    and after, is that folder's tenant's. `previous.tenants` is built here if it was not yet (once per chain of
    bases: each derived base carries its own); the loop's authorizer has always built it."""
    if previous.shared is None or previous.shared.of_kind("Tenant"):
        return None
    for folders in (previous_parts, parts):
        for tenant in changed & folders.keys():
            if any(s.tenant != tenant for s in folders[tenant].of_kind("Tenant")):
                return None
    tenants = dict(previous.tenants)
    for tenant in changed:
        tenants.pop(tenant, None)
    for tenant in sorted(changed & parts.keys()):
        for loaded in parts[tenant].of_kind("Tenant"):
            tenants[tenant] = cast(Tenant, loaded.spec)
    return MappingProxyType(tenants)


def _less(total: budgets.Usage, parts: list[budgets.Usage]) -> budgets.Usage:
    usage = replace(total)
    for part in parts:
        usage.remove(part)
    return usage


def _more(total: budgets.Usage, parts: list[budgets.Usage]) -> budgets.Usage:
    usage = replace(total)
    for part in parts:
        usage.add(part)
    return usage


def _merged(shared: ConfigRepo, parts: Mapping[str, ConfigRepo], usage: budgets.Usage | None = None) -> ConfigRepo:
    """The whole base, in `load_repo`'s order: shared specs first, then tenant folders by name. `usage`: what
    the parts hold together, when the caller knows it (a reload: the previous base's, moved by the changed parts)."""
    ordered = [shared, *(parts[t] for t in sorted(parts))]
    if usage is None:
        usage = budgets.Usage()
        for part in ordered:
            usage.add(part.usage)
    return replace(
        shared,
        specs=[s for p in ordered for s in p.specs],
        diagnostics=[d for p in ordered for d in p.diagnostics],
        files=sum(p.files for p in ordered),
        refused={k for p in ordered for k in p.refused},
        usage=usage,
    )


def _read_blobs(repo_path: Path, blobs: list[str]) -> list[bytes]:
    """The contents of `blobs`, in order, from one `git cat-file --batch` (one round trip, not one per file)."""
    if not blobs:
        return []
    proc = subprocess.run(
        ["git", "-C", str(repo_path), "cat-file", "--batch"],
        input=b"".join(f"{blob}\n".encode() for blob in blobs),
        capture_output=True,
        check=False,
        env=gitenv.environment(),
    )
    if proc.returncode != 0:
        raise MlcpError(f"could not read the trusted base's files: {proc.stderr.decode(errors='replace').strip()}")
    out, at, contents = proc.stdout, 0, []
    for blob in blobs:
        end = out.index(b"\n", at)
        header = out[at:end].decode().split()
        if len(header) != 3 or header[0] != blob or header[1] != "blob":
            raise MlcpError(f"the trusted base's object {blob} could not be read ({' '.join(header[1:])})")
        size = int(header[2])
        contents.append(out[end + 1 : end + 1 + size])
        at = end + 1 + size + 1  # the content is followed by a newline
    return contents


def _signers(base: TrustedBase) -> Path | None:
    """The base's allowed_signers file, written to a new private file (git's signature check reads a path)."""
    policy = base.policy
    if policy is None:
        return None
    rel = PurePosixPath(policy.spec.allowed_signers_file)
    if rel.is_absolute() or ".." in rel.parts:
        return None  # a signers file outside the repo is no key the base vouches for
    data = base.files.get(str(rel))
    if data is None:
        return None
    handle, name = tempfile.mkstemp(prefix=f"signers-{base.revision[:12]}-", dir=_private_dir())
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    return Path(name)
