"""Reads a config repo's layout (DESIGN.md) into specs, collecting every problem.

Loading never stops at the first error: a pull request should show all of
them at once. It refuses anything that could let a spec escape its place: files
outside `policies/` and `tenants/<tenant>/`, symlinks, files over 1 MiB, a spec
naming another tenant than its folder, and two specs with the same identity.
Which files are read is listing.py's job, where a document may live placement.py's;
this module reads each listed file, parses and validates its documents, and keeps
what passed in a `ConfigRepo`. Every file is charged to a `budgets.Budget` as it is read (see budgets.py): a
tenant folder that runs out is reported at the file where it did and read no
further, the repo running out stops the load with a repo-wide error.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from controlplane.errors import Diagnostic
from controlplane.loading import budgets, layout, memo, schema_errors
from controlplane.loading.budgets import Budget, Exceeded, Scope, Usage
from controlplane.loading.listing import SPEC_DIRS, SYMLINK, file_problem, folder_tenant, spec_files
from controlplane.loading.placement import check_header, intended_key, place
from controlplane.loading.sources import LoadedSpec, Source, SpecKey
from controlplane.loading.trees import FolderTree, Tree
from controlplane.loading.yamldocs import Caps, Document, OverBudget, Parsed, YamlError
from controlplane.specs import KINDS
from controlplane.specs.repo_config import RepoConfig

MAX_FILE_BYTES = budgets.Limits().file_bytes
"""The default size limit of one spec file (the operator may set another: budgets.py)."""
CONFIG_FILE = "mlcp.yaml"


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
        repo.diagnostics.append(file_problem(rel, f"cannot be read ({exc.strerror})"))
        return None
    if stat.S_ISLNK(info.mode):
        repo.diagnostics.append(file_problem(rel, SYMLINK, "replace the link by the file it points to"))
        return None
    if not stat.S_ISREG(info.mode):
        repo.diagnostics.append(file_problem(rel, "is not a regular file"))
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
        repo.diagnostics.append(file_problem(rel, f"is not UTF-8 text ({exc.reason})"))
    except OSError as exc:
        repo.diagnostics.append(file_problem(rel, f"cannot be read ({exc.strerror})"))
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


def _load_file(tree: Tree, rel: str, repo: ConfigRepo, seen: dict[SpecKey, Source], budget: Budget) -> None:
    budget.enter(folder_tenant(rel))
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


def _load_document(doc: Document, rel: str, repo: ConfigRepo, seen: dict[SpecKey, Source]) -> None:
    kind, problem = check_header(doc, rel)
    if problem is not None:
        repo.diagnostics.append(problem)
        return
    folder = folder_tenant(rel)
    tenant, problem = place(kind, doc, rel, folder)
    if problem is not None:
        repo.diagnostics.append(problem)
        repo.refused.add(intended_key(kind, doc, folder))
        return
    cls = KINDS[kind]
    try:
        spec = memo.validated(cls, doc.data, cls.model_validate)
    except ValidationError as exc:
        repo.diagnostics.extend(schema_errors.diagnostics(exc, cls, doc, rel))
        repo.refused.add(intended_key(kind, doc, folder))
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
    for rel in spec_files(tree, repo.diagnostics, budget, SPEC_DIRS, skip):
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
    for rel in spec_files(tree, repo.diagnostics, budget, (folder,)):
        _load_file(tree, rel, repo, seen, budget)
    return repo
