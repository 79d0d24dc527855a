"""Reads a config repo's layout (DESIGN.md) into specs, collecting every problem.

Loading never stops at the first error: a pull request should show all of
them at once. It refuses anything that could let a spec escape its place: files
outside `policies/` and `tenants/<tenant>/`, symlinks, files over 1 MiB, a spec
naming another tenant than its folder, and two specs with the same identity.
Every file is charged to a `budgets.Budget` as it is read (see budgets.py): a
tenant folder that runs out is reported at the file where it did and read no
further, the repo running out stops the load with a repo-wide error.
"""

from __future__ import annotations

import difflib
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from controlplane.errors import Diagnostic
from controlplane.loading import budgets, layout, memo, schema_errors
from controlplane.loading.budgets import Budget, Exceeded, Scope, Usage
from controlplane.loading.names import is_text, shown_name
from controlplane.loading.sources import LoadedSpec, Source, SpecKey
from controlplane.loading.trees import FolderTree, Tree
from controlplane.loading.yamldocs import Caps, Document, OverBudget, Parsed, YamlError
from controlplane.specs import API_VERSION, KINDS
from controlplane.specs.base import is_dns1123_label
from controlplane.specs.repo_config import RepoConfig

MAX_FILE_BYTES = budgets.Limits().file_bytes
"""The default size limit of one spec file (the operator may set another: budgets.py)."""
SPEC_DIRS = ("policies", "tenants")
YAML_SUFFIXES = (".yaml", ".yml")
CONFIG_FILE = "mlcp.yaml"
LFS_POINTER = "version https://git-lfs.github.com/spec/"
"""How a Git LFS pointer file starts: what git holds for a file tracked by LFS (YAML reads it as one string)."""
TENANT_FILE = "tenant.yaml"
"""The file of a tenant's folder that holds its Tenant, and nothing else names its people."""


@dataclass
class ConfigRepo:
    """Everything read from one config repo directory."""

    root: Path
    config: RepoConfig = field(default_factory=RepoConfig)
    specs: list[LoadedSpec] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    refused: set[SpecKey] = field(default_factory=set)
    """Specs that were written but refused (already reported), so cross-reference checks do not
    report them a second time as missing (e.g. every spec of a tenant whose tenant.yaml is invalid)."""
    usage: Usage = field(default_factory=Usage)
    """What this load read, charged to the repo's budget (a later partial load starts from it)."""
    _kinds: tuple[list[LoadedSpec], int, dict[str, list[LoadedSpec]]] | None = field(
        default=None, init=False, compare=False, repr=False
    )
    """`specs` by kind, for the `specs` list (and length) it was built from: a pass asks ~25 times, and a repo
    of 10,000 tenants holds 90,000 specs."""
    _keys: tuple[list[LoadedSpec], int, Mapping[SpecKey, LoadedSpec]] | None = field(
        default=None, init=False, compare=False, repr=False
    )
    """`specs` by key, likewise; apart from `_kinds`, so a pass that only asks for a kind (the AccessPolicy)
    never makes a key for each of 90,000 specs."""

    def of_kind(self, kind: str) -> list[LoadedSpec]:
        """The specs of `kind`, in load order (a new list each call: callers may keep or change it)."""
        known = self._kinds
        if known is None or known[0] is not self.specs or known[1] != len(self.specs):
            by_kind: dict[str, list[LoadedSpec]] = {}
            for loaded in self.specs:
                by_kind.setdefault(loaded.spec.kind, []).append(loaded)
            known = self._kinds = (self.specs, len(self.specs), by_kind)
        return list(known[2].get(kind, ()))

    def keyed_by(self, keys: Mapping[SpecKey, LoadedSpec]) -> None:
        """Answer `spec` from `keys` (exactly `specs` by key) while `specs` is this list: a loader that keeps
        the repo in slices looks a key up in its slice instead of making a key for every spec."""
        self._keys = (self.specs, len(self.specs), keys)

    def spec(self, key: SpecKey | None) -> LoadedSpec | None:
        """The spec of `key` (keys are unique: a duplicate is refused when loading), or None."""
        if key is None:
            return None
        known = self._keys
        if known is None or known[0] is not self.specs or known[1] != len(self.specs):
            known = self._keys = (self.specs, len(self.specs), {loaded.key: loaded for loaded in self.specs})
        return known[2].get(key)


def _spec_files(
    tree: Tree, repo: ConfigRepo, budget: Budget, tops: tuple[str, ...] = SPEC_DIRS, skip: frozenset[str] = frozenset()
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
            repo.diagnostics.append(_file_diag(top, "is a symlink; specs must be real files in the repo"))
            continue
        _walk(top, (tree, repo, skip, budget.limits), files, cap)
    return files


def _tenant_cap(rel: str, files: list[str], limits: budgets.Limits) -> int:
    """How many files the listing may hold once the folder `rel` is listed (bounded inside a tenant folder)."""
    if _folder_tenant(f"{rel}/x") is None:
        return len(files) + limits.repo_files + 1
    return len(files) + limits.tenant_files + 1


_Walk = tuple[Tree, ConfigRepo, frozenset[str], budgets.Limits]
"""What every step of a walk shares: the files, where problems go, the folders to skip, the limits."""


def _walk(top: str, walk: _Walk, files: list[str], cap: int) -> None:
    """The files under `top`, depth first, a folder's files before its subfolders'. A loop with its own stack,
    not a recursion: git stores folders nested thousands deep (a path has no length limit in a tree), and
    Python's recursion limit ended the load in a RecursionError at about a thousand."""
    tree, repo, skip, limits = walk
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
                repo.diagnostics.append(_misnamed_tenant(entry.name))
            elif not is_text(entry.name):
                if not hidden and (entry.folder or entry.link or _is_yaml(entry.name)):
                    repo.diagnostics.append(_untext_name(rel, entry.name))
            elif not entry.folder:
                if _is_yaml(entry.name) and len(files) < here:
                    files.append(f"{rel}/{entry.name}")  # a linked file is refused, with its reason, when read
            elif entry.link:
                # `tenants/<t>/`, with its slash, is tenant t's problem: a linked tenant folder sets t aside, not all
                where = f"{rel}/{entry.name}" + ("/" if rel == "tenants" else "")
                repo.diagnostics.append(_file_diag(where, "is a symlink; specs must be real files in the repo"))
            elif not hidden and f"{rel}/{entry.name}" not in skip:
                subfolders.append(f"{rel}/{entry.name}")
        pending.extend((sub, here) for sub in reversed(subfolders))


def _is_yaml(name: str) -> bool:
    return name.endswith(YAML_SUFFIXES)


def _untext_name(rel: str, name: str) -> Diagnostic:
    where = f"{rel}/{shown_name(name)}"
    return _file_diag(
        where,
        "is named with bytes that are not UTF-8 (shown here as \\x..), so it is not read",
        "rename it with a UTF-8 name (git mv)",
    )


def is_tenant_folder(name: str) -> bool:
    """Whether `name` may name a folder under tenants/: a DNS-1123 label, as the tenant's name must be.

    The folder's name becomes the tenant's key everywhere (failure isolation, logs, Events, the audit log),
    so anything else in that place (a name git stores as bytes that are not UTF-8, a control character, 5,000
    characters) is refused before it is read, as a problem of the whole repo: it is no tenant's.
    """
    return is_dns1123_label(name)


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


def _file_diag(path: str, message: str, hint: str = "", code: str = "file") -> Diagnostic:
    return Diagnostic(path, 1, 1, f"{path} {message}" if not message[0].isupper() else message, hint, code)


def _read(tree: Tree, rel: str, repo: ConfigRepo, budget: Budget) -> str | None:
    """The text of a spec file, or None with the reason recorded.

    One `lstat` decides: symlinks are refused rather than followed, and since
    the walk never enters a symlinked folder and `root` is resolved, a regular
    file found this way cannot lie outside the repo. FIFOs and devices are
    refused too, or reading them could block or never end. The file's size is
    charged to the budget before a byte of it is read.
    """
    try:
        info = tree.lstat(rel)
    except OSError as exc:
        repo.diagnostics.append(_file_diag(rel, f"cannot be read ({exc.strerror})"))
        return None
    if stat.S_ISLNK(info.mode):
        repo.diagnostics.append(
            _file_diag(
                rel,
                "is a symlink; specs must be real files in the repo",
                "replace the link by the file it points to",
            )
        )
        return None
    if not stat.S_ISREG(info.mode):
        repo.diagnostics.append(_file_diag(rel, "is not a regular file"))
        return None
    exceeded = budget.check_file(info.size)
    if exceeded is not None:
        _over_budget(repo, budget, rel, exceeded, (1, 1), info.size)
        return None
    repo.usage.files += 1
    repo.usage.bytes += info.size
    try:
        return tree.read_text(rel)
    except UnicodeDecodeError as exc:
        repo.diagnostics.append(_file_diag(rel, f"is not UTF-8 text ({exc.reason})"))
    except OSError as exc:
        repo.diagnostics.append(_file_diag(rel, f"cannot be read ({exc.strerror})"))
    return None


def _over_budget(
    repo: ConfigRepo, budget: Budget, rel: str, exceeded: Exceeded, at: tuple[int, int], size: int = 0
) -> None:
    """Report a budget `rel` ran out of: at the file for its own or its tenant's, repo-wide for the repo's."""
    repo.diagnostics.append(exceeded.diagnostic(rel, at, budget.tenant_name, size))
    if exceeded.scope is Scope.tenant:
        _set_aside(repo, budget.tenant_name)


def _set_aside(repo: ConfigRepo, tenant: str | None) -> None:
    """Drop what was read of a tenant that ran out of budget: it is reported once, not spec by spec."""
    dropped = [s for s in repo.specs if s.tenant == tenant]
    repo.specs = [s for s in repo.specs if s.tenant != tenant]
    repo.refused |= {s.key for s in dropped}


def _parse(text: str, rel: str, repo: ConfigRepo, budget: Budget) -> Parsed | None:
    """The documents of one file, within what its budget has left; None with the reason recorded."""
    nodes, nodes_limit = budget.allowance("nodes")
    documents, documents_limit = budget.allowance("documents")
    try:
        parsed = memo.parse(text, Caps(nodes, documents, budget.limits.depth))
    except OverBudget as exc:
        exceeded = nodes_limit if exc.measure == "nodes" else documents_limit
        _over_budget(repo, budget, rel, budget.overrun(exceeded), (exc.line, exc.column))
        return None
    except YamlError as exc:
        repo.diagnostics.append(Diagnostic(rel, exc.line, exc.column, exc.message, exc.hint, "yaml"))
        return None
    budget.charge(len(parsed.documents), parsed.nodes)
    repo.usage.documents += len(parsed.documents)
    repo.usage.nodes += parsed.nodes
    return parsed


def _folder_tenant(rel: str) -> str | None:
    parts = rel.split("/")
    return parts[1] if parts[0] == "tenants" and len(parts) > 2 else None


def _check_header(doc: Document, rel: str) -> tuple[str, Diagnostic | None]:
    data = doc.data
    if isinstance(data, str) and data.startswith(LFS_POINTER):
        return "", Diagnostic(
            rel,
            doc.line,
            doc.column,
            "the file is a Git LFS pointer, not a spec: mlcp reads it as committed and never fetches LFS objects",
            "commit the spec itself: `git lfs untrack` its pattern, then `git add --renormalize` the file",
            "document",
        )
    if not isinstance(data, dict):
        return "", Diagnostic(
            rel,
            doc.line,
            doc.column,
            "a spec must be a mapping with apiVersion, kind, metadata and spec",
            code="document",
        )
    api, kind = data.get("apiVersion"), data.get("kind")
    if api != API_VERSION:
        line, col = doc.position(("apiVersion",))
        return "", Diagnostic(
            rel,
            line,
            col,
            f"unknown apiVersion {api!r}",
            f"use `apiVersion: {API_VERSION}`",
            "apiVersion",
        )
    if not isinstance(kind, str) or kind not in KINDS:
        line, col = doc.position(("kind",))
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"known kinds: {', '.join(sorted(KINDS))}"
        return "", Diagnostic(rel, line, col, f"unknown kind {kind!r}", hint, "kind")
    return kind, None


def _place(kind: str, doc: Document, rel: str, folder: str | None) -> tuple[str | None, Diagnostic | None]:
    """The tenant a spec belongs to, or the reason it may not live where it is."""
    cls = KINDS[kind]
    meta = doc.data.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    if not cls.tenant_scoped:
        if folder is not None or not rel.startswith("policies/"):
            return None, Diagnostic(
                rel,
                doc.line,
                doc.column,
                f"{kind} is cluster-wide and must live under policies/",
                f"move it to {cls.folder}",
                "layout",
            )
        return None, None
    if folder is None:
        return None, Diagnostic(
            rel,
            doc.line,
            doc.column,
            f"{kind} must live under tenants/<tenant>/",
            f"move it to {cls.folder}",
            "layout",
        )
    if kind == "Tenant":
        return _place_tenant(doc, rel, folder, meta)
    declared = meta.get("tenant")
    if declared is not None and declared != folder:
        path = ("metadata", "tenant") if "tenant" in meta else ("metadata", "name")
        line, col = doc.position(path)
        return None, Diagnostic(
            rel,
            line,
            col,
            f"spec names tenant {declared!r} but lives in tenants/{folder}/",
            f"a spec belongs to the tenant of its folder; move it or set `{path[-1]}: {folder}`",
            "tenant-mismatch",
        )
    return folder, None


def _place_tenant(doc: Document, rel: str, folder: str, meta: dict[str, Any]) -> tuple[str | None, Diagnostic | None]:
    """A Tenant lives in its own folder's tenant.yaml and is named for it: the one file the trusted base reads
    for a tenant's people (reconciler.trust), so no other file can name a tenant's owners, or give a second
    Tenant of another name the folder's workloads."""
    expected = f"tenants/{folder}/{TENANT_FILE}"
    if rel != expected:
        return None, Diagnostic(
            rel,
            doc.line,
            doc.column,
            f"a Tenant must live in {expected}, the one file that names tenant {folder!r}'s people",
            f"move it to {expected} (one Tenant per folder)",
            "layout",
        )
    for key in ("name", "tenant"):
        declared = meta.get(key)
        if (declared is not None or key == "name") and declared != folder:
            line, col = doc.position(("metadata", key)) if key in meta else (doc.line, doc.column)
            return None, Diagnostic(
                rel,
                line,
                col,
                f"spec names tenant {declared!r} but lives in tenants/{folder}/",
                f"a Tenant is named for its folder: set `{key}: {folder}`, or move it to tenants/{declared}/",
                "tenant-mismatch",
            )
    return folder, None


def _load_file(tree: Tree, rel: str, repo: ConfigRepo, seen: dict[SpecKey, Source], budget: Budget) -> None:
    budget.enter(_folder_tenant(rel))
    if budget.stopped():
        return  # its tenant (or the repo) ran out of budget: reported once, where it did
    text = _read(tree, rel, repo, budget)
    if text is None:
        return
    repo.files += 1
    hidden = layout.problem(text, rel)
    if hidden is not None:
        repo.diagnostics.append(hidden)
        return
    parsed = _parse(text, rel, repo, budget)
    if parsed is None:
        return
    for doc in parsed.documents:
        if doc.data is None:
            continue
        _load_document(doc, rel, repo, seen)


def _intended_key(kind: str, doc: Document, folder: str | None) -> SpecKey:
    """The identity a refused document was meant to have, as far as it can be told."""
    meta = doc.data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if kind == "Tenant" and folder is not None:
        name = folder
    return SpecKey(kind, folder if KINDS[kind].tenant_scoped else None, name if isinstance(name, str) else "")


def _load_document(doc: Document, rel: str, repo: ConfigRepo, seen: dict[SpecKey, Source]) -> None:
    kind, problem = _check_header(doc, rel)
    if problem is not None:
        repo.diagnostics.append(problem)
        return
    folder = _folder_tenant(rel)
    tenant, problem = _place(kind, doc, rel, folder)
    if problem is not None:
        repo.diagnostics.append(problem)
        repo.refused.add(_intended_key(kind, doc, folder))
        return
    cls = KINDS[kind]
    try:
        spec = memo.validated(cls, doc.data, cls.model_validate)
    except ValidationError as exc:
        repo.diagnostics.extend(schema_errors.diagnostics(exc, cls, doc, rel))
        repo.refused.add(_intended_key(kind, doc, folder))
        return
    loaded = LoadedSpec(spec, tenant, Source(rel, doc.line, doc.column), doc.positions)
    first = seen.get(loaded.key)
    if first is not None:
        line, col = doc.position(("metadata", "name"))
        repo.diagnostics.append(
            Diagnostic(
                rel,
                line,
                col,
                f"duplicate {loaded.key}: already defined at {first}",
                "rename one of them",
                "duplicate",
            )
        )
        return
    seen[loaded.key] = loaded.source
    repo.specs.append(loaded)


def _load_config(tree: Tree, repo: ConfigRepo, budget: Budget) -> None:
    if not tree.exists(CONFIG_FILE):
        return
    budget.enter(None)
    text = _read(tree, CONFIG_FILE, repo, budget)
    if text is None:
        return
    hidden = layout.problem(text, CONFIG_FILE)
    if hidden is not None:
        repo.diagnostics.append(hidden)
        return
    parsed = _parse(text, CONFIG_FILE, repo, budget)
    documents = [d for d in parsed.documents if d.data is not None] if parsed else []
    if not documents:
        return
    try:
        repo.config = RepoConfig.model_validate(documents[0].data)
    except ValidationError as exc:
        repo.diagnostics.extend(schema_errors.diagnostics(exc, RepoConfig, documents[0], CONFIG_FILE))


def load_repo(root: Path | str, skip: frozenset[str] = frozenset(), budget: Budget | None = None) -> ConfigRepo:
    """Load every spec under `root` (except folders in `skip`, e.g. `tenants/a`); problems are collected in
    `diagnostics`, never raised. `budget` (default: a new one with the operator's limits) is charged with
    what is read; pass one to share it across several loads of one repo."""
    root_path = Path(root).resolve()
    if not root_path.is_dir():
        repo = ConfigRepo(root=root_path)
        repo.diagnostics.append(Diagnostic(str(root), 1, 1, "not a directory", "pass the config repo's root", "file"))
        return repo
    return load_tree(FolderTree(root_path), skip, budget)


def load_tree(tree: Tree, skip: frozenset[str] = frozenset(), budget: Budget | None = None) -> ConfigRepo:
    """`load_repo` of a tree (e.g. the trusted base's blobs, in memory): the same walk, refusals and budget."""
    repo = ConfigRepo(root=tree.root)
    budget = budget or Budget()
    _load_config(tree, repo, budget)
    seen: dict[SpecKey, Source] = {}
    for rel in _spec_files(tree, repo, budget, SPEC_DIRS, skip):
        _load_file(tree, rel, repo, seen, budget)
    return repo


def load_config(root: Path | str) -> ConfigRepo:
    """Only `mlcp.yaml` (defaults when absent): enough to know the target systems before the specs are read."""
    root_path = Path(root).resolve()
    repo = ConfigRepo(root=root_path)
    if root_path.is_dir():
        _load_config(FolderTree(root_path), repo, Budget())
    return repo


def load_folder(root: Path | str | Tree, folder: str, budget: Budget | None = None) -> ConfigRepo:
    """The specs of one folder (e.g. `tenants/a`) exactly as `load_repo` reads them, without mlcp.yaml.

    Specs in different tenant folders never share an identity, so a repo can be
    loaded folder by folder and only the folders that changed read again; a
    shared `budget` keeps the repo's totals across those loads.
    """
    tree = FolderTree(Path(root).resolve()) if isinstance(root, Path | str) else root
    repo = ConfigRepo(root=tree.root)
    budget = budget or Budget()
    seen: dict[SpecKey, Source] = {}
    for rel in _spec_files(tree, repo, budget, (folder,)):
        _load_file(tree, rel, repo, seen, budget)
    return repo
