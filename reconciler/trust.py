"""The trusted base: the revision whose rules judge every change after it.

A commit must never choose its own judge. So everything that decides whether a
change is allowed — the AccessPolicy, group and tenant memberships behind
`@own`, the allowed signers, approval rules and `mlcp.yaml` — is read from the
last applied revision (recorded by mlcp in the cluster), or from the revision
the operator names with `--trusted-base` / `MLCP_TRUSTED_BASE`, never from the
revision under review. With neither, mlcp refuses: the first committer is
never trusted by default.

Only the files that carry trust are read from the base (`mlcp.yaml`,
`policies/**`, `tenants/<t>/tenant.yaml`), straight from git's object store,
and loaded from memory with the same hardened loader (walk, refusals, budgets)
as any spec. Nothing of the base is written to disk but its allowed_signers
file, which git's signature check needs as a file, to a private folder.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import cast

import git

from controlplane import digits, registry_names
from controlplane.errors import Diagnostic, MlcpError
from controlplane.loading import budgets
from controlplane.loading.names import is_text, shown_name
from controlplane.loading.placement import TENANT_FILE
from controlplane.loading.repo import CONFIG_FILE, ConfigRepo, load_folder, load_tree
from controlplane.loading.trees import MemoryTree
from controlplane.specs import AccessPolicy, Tenant
from reconciler import gitenv

ENV = "MLCP_TRUSTED_BASE"
FLAG = "--trusted-base"
POLICY_DIR = "policies"
TENANTS = "tenants"
_REGULAR = ("100644", "100755")
_FULL_ID = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class _Entry:
    """One governance path of a revision as git lists it."""

    blob: str
    readable: bool
    """A regular file within the size limit (the others are diagnostics, never read)."""


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
    listing: Mapping[str, _Entry] = field(default_factory=dict, compare=False, repr=False)
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


def choose(repo_path: Path, applied: str | None, named: str | None) -> tuple[str, str]:
    """The trusted revision and where it came from.

    The operator's revision is used when nothing was applied yet (bootstrap), when it descends from the
    applied one (the operator vouches for more), or when the two histories are unrelated (recovery after a
    rewrite). A named revision that the applied one already descends from is stale — say, an environment
    variable left set after the bootstrap — and never pins trust to the past: the applied revision wins.
    """
    if named and applied:
        named_sha = resolve(repo_path, named)
        try:
            applied_sha = resolve(repo_path, applied)
        except MlcpError:  # the applied revision is not in this repo's history: the operator's word decides
            return named_sha, "operator"
        if named_sha != applied_sha and _is_ancestor(repo_path, named_sha, applied_sha):
            return applied_sha, "applied"
        return named_sha, "operator"
    if named:
        return named, "operator"
    if applied:
        return applied, "applied"
    raise MlcpError(
        "no trusted base: nothing has been applied to this cluster yet, and the operator named no revision to trust",
        f"name the revision whose policy judges this change with {FLAG} REV or {ENV}=REV "
        "(for a new platform, the reviewed commit that holds your AccessPolicy)",
    )


def _is_ancestor(repo_path: Path, old: str, new: str) -> bool:
    try:
        gitenv.repo(repo_path).git.merge_base("--is-ancestor", old, new)
    except git.GitCommandError:
        return False
    return True


_PRIVATE: list[Path] = []


def _private_dir() -> Path:
    if not _PRIVATE:
        _PRIVATE.append(Path(tempfile.mkdtemp(prefix="mlcp-trust-")))
        atexit.register(shutil.rmtree, _PRIVATE[0], True)
    return _PRIVATE[0]


def _wanted(path: str) -> bool:
    parts = PurePosixPath(path).parts
    if path == CONFIG_FILE or (parts and parts[0] == POLICY_DIR):
        return True
    return len(parts) == 3 and parts[0] == TENANTS and parts[2] == TENANT_FILE


def resolve(repo_path: Path, revision: str) -> str:
    """The full sha of commit `revision` in the config repo, or a clear error. Git itself parses the revision:
    GitPython's parser raised IndexError or NotImplementedError on reflog forms (`HEAD@{99}`, `@{-1}`).

    A name git finds in several places is refused, never read in git's order: a tag beats a branch of the same
    name and a ref beats an abbreviated commit id, so a tag `main`, or one named like the short id `mlcp init`
    prints, made the operator's `--trusted-base` name the pusher's commit, whose whole content it then vouched for.
    A full commit id is git's own whatever refs exist."""
    try:
        repo = gitenv.repo(repo_path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise MlcpError(f"{repo_path} is not a git repository", "mlcp judges changes by their commits") from None
    try:
        if not revision or revision.startswith("-"):  # an option to git, never a revision
            raise ValueError(revision)
        if _FULL_ID.fullmatch(revision):  # git takes a full object id as it is, whatever refs are named so
            return str(repo.git.rev_parse("--verify", "--quiet", f"{revision}^{{commit}}")).strip()
        status, out, err = repo.git.execute(
            ["git", "-c", "core.warnAmbiguousRefs=true", "rev-parse", "--verify", f"{revision}^{{commit}}"],
            with_extended_output=True,
            with_exceptions=False,
        )
        if status != 0:
            raise ValueError(revision)
    except (ValueError, git.GitCommandError):
        raise MlcpError(
            f"the trusted base {revision!r} is not a commit of the config repo at {repo_path}",
            f"fetch it (a shallow clone lacks history), or name another revision with {FLAG} / {ENV}",
        ) from None
    if "ambiguous" in str(err):  # git's own warning (its messages are read in English: GitPython runs LC_ALL=C)
        raise MlcpError(
            f"the trusted base {revision!r} names more than one thing in the config repo at {repo_path} (a tag, a "
            "branch, another ref or an abbreviated commit id by that name); git would pick one by its own order, "
            "and whoever may push a tag or a branch chooses what it names",
            f"name the trusted base by its full commit id with {FLAG} / {ENV} (git rev-parse <ref>)",
        )
    return str(out).strip()


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
        since = _listing_since(repo_path, kept[0], sha, limits)
        if since is not None:
            return _reload_tenants(repo_path, kept, sha, origin, *since)
    listing, diagnostics = _listing(repo_path, sha, limits)
    if kept is not None:
        changed = _changed_tenants(kept[0].listing, listing)
        if changed is not None:
            return _reload_tenants(repo_path, kept, sha, origin, listing, changed)
    paths = [path for path, entry in listing.items() if entry.readable]
    contents = dict(zip(paths, _read_blobs(repo_path, [listing[path].blob for path in paths]), strict=True))
    tree = MemoryTree(_root_of(sha), contents)
    files = {path: data for path, data in contents.items() if path.startswith(f"{POLICY_DIR}/")}
    budget = budgets.Budget(limits)
    folders = _tenant_folders(listing)
    shared = load_tree(tree, skip=frozenset(f"{TENANTS}/{t}" for t in folders), budget=budget)
    shared.diagnostics[:0] = diagnostics
    parts = {t: load_folder(tree, f"{TENANTS}/{t}", budget) for t in folders}
    base = TrustedBase(sha, origin, _merged(shared, parts), files, None, listing, shared, parts, limits)
    return replace(base, signers=_signers(base))


def _root_of(sha: str) -> Path:
    """The root a base's ConfigRepo names: a path in the private folder that nothing is written to (the base
    is never read from disk; never the config repo's work tree either, which the revision under review owns)."""
    return _private_dir() / f"base-{sha}"


DIFF_PATHS = 1_000
"""The most changed governance paths `load(previous=)` lists on their own; beyond, it lists the whole revision."""


def _listing_since(
    repo_path: Path, previous: TrustedBase, sha: str, limits: budgets.Limits
) -> tuple[dict[str, _Entry], set[str]] | None:
    """The listing of `sha` as `previous`'s plus the governance paths git says changed between the two
    (`git diff-tree`: a walk of the changed trees only), and the tenants whose tenant.yaml changed; None when
    anything else changed or anything is unusual (a path that is not a regular, clean, readable file on
    either side, too many changes, a limit crossed): then the caller lists the whole revision.

    The result is `_listing(sha)`'s: each changed path is listed by the same `git ls-tree` and parser, and
    every other path names the same entry in both trees (that is what diff-tree leaving it out means).
    """
    try:
        raw = gitenv.repo(repo_path).git.diff_tree(
            "-r", "-z", "--no-renames", "--name-only", previous.revision, sha, "--", CONFIG_FILE, POLICY_DIR, TENANTS
        )
    except git.GitCommandError:
        return None
    paths = sorted({path for path in raw.split("\0") if path})
    if len(paths) > DIFF_PATHS:
        return None
    wanted = [path for path in paths if _wanted(path)]
    if any(_tenant_of(path) is None for path in wanted):
        return None  # mlcp.yaml or policies/ changed: everything is read again
    changes, diagnostics = _listing(repo_path, sha, limits, wanted) if wanted else ({}, [])
    if diagnostics or any(path not in wanted for path in changes):
        return None
    if any(path in previous.listing and not previous.listing[path].readable for path in wanted):
        return None
    listing = dict(previous.listing)
    for path in wanted:
        listing.pop(path, None)
    listing.update(changes)
    if sum(entry.readable for entry in listing.values()) > limits.repo_files:
        return None  # the full listing says so, with its error
    changed = {t for path in wanted if previous.listing.get(path) != listing.get(path) and (t := _tenant_of(path))}
    return listing, changed


def _listing(
    repo_path: Path, sha: str, limits: budgets.Limits, paths: list[str] | None = None
) -> tuple[dict[str, _Entry], list[Diagnostic]]:
    """The governance paths of `sha` (`git ls-tree`, no file read), or only of `paths` (literal paths), and the
    diagnostics of unreadable ones."""
    repo = gitenv.repo(repo_path)
    if paths is None:
        raw = repo.git.ls_tree("-r", "-z", "--long", "--full-tree", sha, "--", CONFIG_FILE, POLICY_DIR, TENANTS)
    else:
        raw = repo.git.execute(["git", "--literal-pathspecs", "ls-tree", "-r", "-z", "--long", "--full-tree", sha,
                                "--", *paths])  # fmt: skip
    listing: dict[str, _Entry] = {}
    diagnostics: list[Diagnostic] = []
    readable = 0
    for entry in raw.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        mode, kind, blob, size = meta.split()
        if not _wanted(path):
            continue
        if not is_text(path):
            shown = shown_name(path)
            diagnostics.append(Diagnostic(shown, 1, 1, f"{shown} in the trusted base is not named in UTF-8; ignored"))
            listing[shown] = _Entry(f"{mode} {kind} {blob}", False)
            continue
        if not _clean(path):
            diagnostics.append(
                Diagnostic(
                    path, 1, 1, f"{path} in the trusted base is not a valid path (an empty, . or .. part); ignored"
                )
            )
            listing[path] = _Entry(f"{mode} {kind} {blob}", False)
            continue
        if kind != "blob" or mode not in _REGULAR:
            diagnostics.append(Diagnostic(path, 1, 1, f"{path} in the trusted base is not a regular file; ignored"))
            listing[path] = _Entry(f"{mode} {kind} {blob}", False)
            continue
        if (bytes_ := digits.number(size)) is not None and bytes_ > limits.file_bytes:
            diagnostics.append(
                Diagnostic(path, 1, 1, f"{path} in the trusted base is over {limits.file_bytes} bytes; ignored")
            )
            listing[path] = _Entry(f"{mode} {kind} {blob}", False)
            continue
        listing[path] = _Entry(blob, True)
        readable += 1
        if readable > limits.repo_files:
            raise MlcpError(
                f"the trusted base {sha[:12]} holds more than {limits.repo_files} governance files",
                "name a trusted base within the operator's limits (--limit repo-files), or raise the limit",
            )
    return listing, diagnostics


def _clean(path: str) -> bool:
    """A path git would check out: no empty, `.` or `..` part (a crafted tree object may hold any name)."""
    return not path.startswith("/") and all(part not in ("", ".", "..") for part in path.split("/"))


def changed_tenants(previous: TrustedBase | None, base: TrustedBase) -> set[str] | None:
    """The tenants whose people differ between two bases of one repo; None when more differs (or is unknown)."""
    if previous is None or not previous.listing or not base.listing:
        return None
    if previous is base:  # the same base judged the last pass (the loop keeps it): no walk over its files
        return set()
    if base.since is not None and base.since[0] == previous.revision and base.limits == previous.limits:
        return set(base.since[1])  # what `load(previous=)` found from git's diff: no walk either
    return _changed_tenants(previous.listing, base.listing)


def _tenant_of(path: str) -> str | None:
    parts = PurePosixPath(path).parts
    return parts[1] if len(parts) == 3 and parts[0] == TENANTS and parts[2] == TENANT_FILE else None


def _tenant_folders(listing: Mapping[str, _Entry]) -> list[str]:
    return sorted({t for path, entry in listing.items() if entry.readable and (t := _tenant_of(path)) is not None})


def _changed_tenants(previous: Mapping[str, _Entry], listing: Mapping[str, _Entry]) -> set[str] | None:
    """The tenants whose tenant.yaml differs from `previous`'s; None when anything else differs (read it all)."""
    changed: set[str] = set()
    for path in previous.keys() | listing.keys():
        before, after = previous.get(path), listing.get(path)
        if before == after:
            continue
        tenant = _tenant_of(path)
        if tenant is None or (before is not None and not before.readable) or (after is not None and not after.readable):
            return None
        changed.add(tenant)
    return changed


def _reload_tenants(
    repo_path: Path,
    kept: tuple[TrustedBase, ConfigRepo, Mapping[str, ConfigRepo]],
    sha: str,
    origin: str,
    listing: dict[str, _Entry],
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
