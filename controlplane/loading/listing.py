"""Which files a load reads: the YAML files under `policies/` and `tenants/<tenant>/`, walked without following links.

The listing is the loader's first refusal: a symlink (file or folder) is never followed, a folder under
`tenants/` that cannot be a tenant's name is read no further, a name that is not UTF-8 never becomes a spec's
path, and a tenant folder (or the repo) lists at most one file more than its budget allows, so a folder of a
million files costs one file over the limit, not a million. Its problems are the repo's, reported as the
listing meets them; what is in the files is the loader's (repo.py).
"""

from __future__ import annotations

from controlplane.errors import Diagnostic
from controlplane.loading import budgets
from controlplane.loading.budgets import Budget
from controlplane.loading.names import is_text, shown_name
from controlplane.loading.trees import Tree
from controlplane.specs.kube_syntax import is_dns1123_label

SPEC_DIRS = ("policies", "tenants")
YAML_SUFFIXES = (".yaml", ".yml")
SYMLINK = "is a symlink; specs must be real files in the repo"
"""Why a link is not read, where the listing meets it and where a read does."""


def spec_files(
    tree: Tree,
    problems: list[Diagnostic],
    budget: Budget,
    tops: tuple[str, ...] = SPEC_DIRS,
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """YAML files under the spec folders (but not under `skip`); symlinks are refused, never followed.

    A folder's files come before its subfolders', each in name order. One `scandir` per folder: the
    directory entries say what is a folder or a link without a `stat` per name (a repo may hold
    thousands of tenant folders). A tenant folder lists at most one file more than its budget allows
    (that one is refused), and so does the repo.
    """
    files: list[str] = []
    cap = budget.limits.repo_files - budget.repo.files + 1
    for top in tops:
        if tree.is_link(top):
            problems.append(file_problem(top, SYMLINK))
            continue
        _walk(top, (tree, problems, skip, budget.limits), files, cap)
    return files


def folder_tenant(rel: str) -> str | None:
    """The tenant whose folder holds the file `rel` (None outside `tenants/<tenant>/`)."""
    parts = rel.split("/")
    return parts[1] if parts[0] == "tenants" and len(parts) > 2 else None


def is_tenant_folder(name: str) -> bool:
    """Whether `name` may name a folder under tenants/: a DNS-1123 label, as the tenant's name must be.

    The folder's name becomes the tenant's key everywhere (failure isolation, logs, Events, the audit log),
    so anything else in that place (a name git stores as bytes that are not UTF-8, a control character, 5,000
    characters) is refused before it is read, as a problem of the whole repo: it is no tenant's.
    """
    return is_dns1123_label(name)


def file_problem(path: str, message: str, hint: str = "", code: str = "file") -> Diagnostic:
    """A problem of the file at `path` itself (not of its text): reported at its first line."""
    return Diagnostic(path, 1, 1, f"{path} {message}" if not message[0].isupper() else message, hint, code)


def _tenant_cap(rel: str, files: list[str], limits: budgets.Limits) -> int:
    """How many files the listing may hold once the folder `rel` is listed (bounded inside a tenant folder)."""
    if folder_tenant(f"{rel}/x") is None:
        return len(files) + limits.repo_files + 1
    return len(files) + limits.tenant_files + 1


_Walk = tuple[Tree, list[Diagnostic], frozenset[str], budgets.Limits]
"""What every step of a walk shares: the files, where problems go, the folders to skip, the limits."""


def _walk(top: str, walk: _Walk, files: list[str], cap: int) -> None:
    """The files under `top`, depth first, a folder's files before its subfolders'. A loop with its own stack,
    not a recursion: git stores folders nested thousands deep (a path has no length limit in a tree), and
    Python's recursion limit ended the load in a RecursionError at about a thousand."""
    tree, problems, skip, limits = walk
    pending = [(top, cap)]
    while pending:
        rel, outer = pending.pop()
        here = min(outer, _tenant_cap(rel, files, limits))
        entries = tree.scan(rel)
        if entries is None:
            continue  # a missing spec folder is an empty one; an unreadable one shows no specs, as `os.walk` did
        subfolders: list[str] = []
        for entry in entries:
            hidden = entry.name.startswith(".")
            if entry.folder and rel == "tenants" and not hidden and not is_tenant_folder(entry.name):
                problems.append(_misnamed_tenant(entry.name))
            elif not is_text(entry.name):
                if not hidden and (entry.folder or entry.link or _is_yaml(entry.name)):
                    problems.append(_untext_name(rel, entry.name))
            elif not entry.folder:
                if _is_yaml(entry.name) and len(files) < here:
                    files.append(f"{rel}/{entry.name}")  # a linked file is refused, with its reason, when read
            elif entry.link:
                # `tenants/<t>/`, with its slash, is tenant t's problem: a linked tenant folder sets t aside, not all
                where = f"{rel}/{entry.name}" + ("/" if rel == "tenants" else "")
                problems.append(file_problem(where, SYMLINK))
            elif not hidden and f"{rel}/{entry.name}" not in skip:
                subfolders.append(f"{rel}/{entry.name}")
        pending.extend((sub, here) for sub in reversed(subfolders))


def _is_yaml(name: str) -> bool:
    return name.endswith(YAML_SUFFIXES)


def _untext_name(rel: str, name: str) -> Diagnostic:
    where = f"{rel}/{shown_name(name)}"
    return file_problem(
        where,
        "is named with bytes that are not UTF-8 (shown here as \\x..), so it is not read",
        "rename it with a UTF-8 name (git mv)",
    )


def _misnamed_tenant(name: str) -> Diagnostic:
    return Diagnostic(
        "tenants",
        1,
        1,
        f"tenants/ holds a folder named {name!r}, which is not a tenant's name (a DNS-1123 label); "
        "nothing in it is read and no pass applies anything until it is renamed",
        "rename it to the tenant's name: at most 63 lowercase letters, digits and '-', starting and ending "
        "with a letter or digit (or move it out of tenants/)",
        "layout",
    )
