"""The governance paths of a revision as git lists them: what a trusted base reads, and what changed between two.

Only the files that carry trust are listed (`mlcp.yaml`, `policies/**`, `tenants/<t>/tenant.yaml`), by `git
ls-tree` of the commit (never the work tree), each with its blob and whether it may be read: a path that is not
a regular file within the operator's size limit, not named in UTF-8, or with an empty, `.` or `..` part (a
crafted tree object may hold any name) is a diagnostic and never read. The loop's next base is listed from the
last one and `git diff-tree` of the two commits when only tenants' tenant.yaml changed. Apart from loading the
listed files (reconciler.trust).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import git

from controlplane import digits
from controlplane.errors import Diagnostic, MlcpError
from controlplane.loading import budgets
from controlplane.loading.names import is_text, shown_name
from controlplane.loading.placement import TENANT_FILE
from controlplane.loading.repo import CONFIG_FILE
from reconciler import gitenv

POLICY_DIR = "policies"
TENANTS = "tenants"
_REGULAR = ("100644", "100755")
DIFF_PATHS = 1_000
"""The most changed governance paths `listing_since` lists on their own; beyond, the whole revision is listed."""


@dataclass(frozen=True)
class Entry:
    """One governance path of a revision as git lists it."""

    blob: str
    readable: bool
    """A regular file within the size limit (the others are diagnostics, never read)."""


Listing = Mapping[str, Entry]
"""Every governance path of a revision and its entry."""


def is_governance(path: str) -> bool:
    parts = PurePosixPath(path).parts
    if path == CONFIG_FILE or (parts and parts[0] == POLICY_DIR):
        return True
    return len(parts) == 3 and parts[0] == TENANTS and parts[2] == TENANT_FILE


def listing_since(
    repo_path: Path, revision: str, previous: Listing, sha: str, limits: budgets.Limits
) -> tuple[dict[str, Entry], set[str]] | None:
    """The listing of `sha` as `previous`'s (that of `revision`) plus the governance paths git says changed between
    the two (`git diff-tree`: a walk of the changed trees only), and the tenants whose tenant.yaml changed; None
    when anything else changed or anything is unusual (a path that is not a regular, clean, readable file on
    either side, too many changes, a limit crossed): then the caller lists the whole revision.

    The result is `list_paths(sha)`'s: each changed path is listed by the same `git ls-tree` and parser, and
    every other path names the same entry in both trees (that is what diff-tree leaving it out means).
    """
    try:
        raw = gitenv.repo(repo_path).git.diff_tree(
            "-r", "-z", "--no-renames", "--name-only", revision, sha, "--", CONFIG_FILE, POLICY_DIR, TENANTS
        )
    except git.GitCommandError:
        return None
    paths = sorted({path for path in raw.split("\0") if path})
    if len(paths) > DIFF_PATHS:
        return None
    wanted = [path for path in paths if is_governance(path)]
    if any(tenant_of(path) is None for path in wanted):
        return None  # mlcp.yaml or policies/ changed: everything is read again
    changes, diagnostics = list_paths(repo_path, sha, limits, wanted) if wanted else ({}, [])
    if diagnostics or any(path not in wanted for path in changes):
        return None
    if any(path in previous and not previous[path].readable for path in wanted):
        return None
    listing = dict(previous)
    for path in wanted:
        listing.pop(path, None)
    listing.update(changes)
    if sum(entry.readable for entry in listing.values()) > limits.repo_files:
        return None  # the full listing says so, with its error
    changed = {t for path in wanted if previous.get(path) != listing.get(path) and (t := tenant_of(path))}
    return listing, changed


def list_paths(
    repo_path: Path, sha: str, limits: budgets.Limits, paths: list[str] | None = None
) -> tuple[dict[str, Entry], list[Diagnostic]]:
    """The governance paths of `sha` (`git ls-tree`, no file read), or only of `paths` (literal paths), and the
    diagnostics of unreadable ones."""
    repo = gitenv.repo(repo_path)
    if paths is None:
        raw = repo.git.ls_tree("-r", "-z", "--long", "--full-tree", sha, "--", CONFIG_FILE, POLICY_DIR, TENANTS)
    else:
        raw = repo.git.execute(["git", "--literal-pathspecs", "ls-tree", "-r", "-z", "--long", "--full-tree", sha,
                                "--", *paths])  # fmt: skip
    listing: dict[str, Entry] = {}
    diagnostics: list[Diagnostic] = []
    readable = 0
    for entry in raw.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        mode, kind, blob, size = meta.split()
        if not is_governance(path):
            continue
        if not is_text(path):
            shown = shown_name(path)
            diagnostics.append(Diagnostic(shown, 1, 1, f"{shown} in the trusted base is not named in UTF-8; ignored"))
            listing[shown] = Entry(f"{mode} {kind} {blob}", False)
            continue
        if not _clean(path):
            diagnostics.append(
                Diagnostic(
                    path, 1, 1, f"{path} in the trusted base is not a valid path (an empty, . or .. part); ignored"
                )
            )
            listing[path] = Entry(f"{mode} {kind} {blob}", False)
            continue
        if kind != "blob" or mode not in _REGULAR:
            diagnostics.append(Diagnostic(path, 1, 1, f"{path} in the trusted base is not a regular file; ignored"))
            listing[path] = Entry(f"{mode} {kind} {blob}", False)
            continue
        if (bytes_ := digits.number(size)) is not None and bytes_ > limits.file_bytes:
            diagnostics.append(
                Diagnostic(path, 1, 1, f"{path} in the trusted base is over {limits.file_bytes} bytes; ignored")
            )
            listing[path] = Entry(f"{mode} {kind} {blob}", False)
            continue
        listing[path] = Entry(blob, True)
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


def tenant_of(path: str) -> str | None:
    parts = PurePosixPath(path).parts
    return parts[1] if len(parts) == 3 and parts[0] == TENANTS and parts[2] == TENANT_FILE else None


def tenant_folders(listing: Mapping[str, Entry]) -> list[str]:
    return sorted({t for path, entry in listing.items() if entry.readable and (t := tenant_of(path)) is not None})


def changed_tenant_files(previous: Mapping[str, Entry], listing: Mapping[str, Entry]) -> set[str] | None:
    """The tenants whose tenant.yaml differs from `previous`'s; None when anything else differs (read it all)."""
    changed: set[str] = set()
    for path in previous.keys() | listing.keys():
        before, after = previous.get(path), listing.get(path)
        if before == after:
            continue
        tenant = tenant_of(path)
        if tenant is None or (before is not None and not before.readable) or (after is not None and not after.readable):
            return None
        changed.add(tenant)
    return changed
