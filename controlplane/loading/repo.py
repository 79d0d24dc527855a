"""Reads a config repo's layout (DESIGN.md) into specs, collecting every problem.

Loading never stops at the first error: a pull request should show all of
them at once. It refuses anything that could let a spec escape its place: files
outside `policies/` and `tenants/<tenant>/`, symlinks, files over 1 MiB, a spec
naming another tenant than its folder, and two specs with the same identity.
"""

from __future__ import annotations

import difflib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from controlplane.errors import Diagnostic
from controlplane.loading import schema_errors
from controlplane.loading.sources import LoadedSpec, Source, SpecKey
from controlplane.loading.yamldocs import Document, YamlError, parse
from controlplane.specs import API_VERSION, KINDS
from controlplane.specs.repo_config import RepoConfig

MAX_FILE_BYTES = 1024 * 1024
SPEC_DIRS = ("policies", "tenants")
YAML_SUFFIXES = (".yaml", ".yml")
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

    def of_kind(self, kind: str) -> list[LoadedSpec]:
        return [s for s in self.specs if s.spec.kind == kind]


def _spec_files(
    root: Path, repo: ConfigRepo, tops: tuple[str, ...] = SPEC_DIRS, skip: frozenset[str] = frozenset()
) -> list[Path]:
    """YAML files under the spec folders (but not under `skip`); symlinks are refused, never followed.

    A folder's files come before its subfolders', each in name order. One `scandir` per folder: the
    directory entries say what is a folder or a link without a `stat` per name (a repo may hold
    thousands of tenant folders).
    """
    files: list[Path] = []
    for top in tops:
        base = root / top
        if base.is_symlink():
            repo.diagnostics.append(_file_diag(top, "is a symlink; specs must be real files in the repo"))
            continue
        _walk(base, top, repo, skip, files)
    return files


def _walk(folder: Path, rel: str, repo: ConfigRepo, skip: frozenset[str], files: list[Path]) -> None:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        return  # a missing spec folder is an empty one; an unreadable one shows no specs, as `os.walk` did
    subfolders: list[os.DirEntry[str]] = []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            if entry.name.endswith(YAML_SUFFIXES):
                files.append(folder / entry.name)  # a linked file is refused, with its reason, when read
        elif entry.is_symlink():
            repo.diagnostics.append(
                _file_diag(f"{rel}/{entry.name}", "is a symlink; specs must be real files in the repo")
            )
        elif not entry.name.startswith(".") and f"{rel}/{entry.name}" not in skip:
            subfolders.append(entry)
    for entry in subfolders:
        _walk(folder / entry.name, f"{rel}/{entry.name}", repo, skip, files)


def _file_diag(path: str, message: str, hint: str = "", code: str = "file") -> Diagnostic:
    return Diagnostic(path, 1, 1, f"{path} {message}" if not message[0].isupper() else message, hint, code)


def _read(root: Path, path: Path, repo: ConfigRepo) -> str | None:
    """The text of a spec file, or None with the reason recorded.

    One `lstat` decides: symlinks are refused rather than followed, and since
    the walk never enters a symlinked folder and `root` is resolved, a regular
    file found this way cannot lie outside the repo. FIFOs and devices are
    refused too, or reading them could block or never end.
    """
    rel = path.relative_to(root).as_posix()
    try:
        info = path.lstat()
    except OSError as exc:
        repo.diagnostics.append(_file_diag(rel, f"cannot be read ({exc.strerror})"))
        return None
    if stat.S_ISLNK(info.st_mode):
        repo.diagnostics.append(
            _file_diag(
                rel,
                "is a symlink; specs must be real files in the repo",
                "replace the link by the file it points to",
            )
        )
        return None
    if not stat.S_ISREG(info.st_mode):
        repo.diagnostics.append(_file_diag(rel, "is not a regular file"))
        return None
    if info.st_size > MAX_FILE_BYTES:
        repo.diagnostics.append(
            _file_diag(
                rel,
                f"is {info.st_size} bytes; spec files may be at most 1 MiB",
                "split it into several files",
            )
        )
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        repo.diagnostics.append(_file_diag(rel, f"is not UTF-8 text ({exc.reason})"))
    except OSError as exc:
        repo.diagnostics.append(_file_diag(rel, f"cannot be read ({exc.strerror})"))
    return None


def _folder_tenant(rel: str) -> str | None:
    parts = rel.split("/")
    return parts[1] if parts[0] == "tenants" and len(parts) > 2 else None


def _check_header(doc: Document, rel: str) -> tuple[str, Diagnostic | None]:
    data = doc.data
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
    declared = meta.get("tenant")
    if kind == "Tenant":
        declared = declared if declared is not None else meta.get("name")
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


def _load_file(root: Path, path: Path, repo: ConfigRepo, seen: dict[SpecKey, Source]) -> None:
    rel = path.relative_to(root).as_posix()
    text = _read(root, path, repo)
    if text is None:
        return
    repo.files += 1
    try:
        documents = parse(text)
    except YamlError as exc:
        repo.diagnostics.append(Diagnostic(rel, exc.line, exc.column, exc.message, exc.hint, "yaml"))
        return
    for doc in documents:
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
        spec = cls.model_validate(doc.data)
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


def _load_config(root: Path, repo: ConfigRepo) -> None:
    path = root / CONFIG_FILE
    if not path.exists():
        return
    text = _read(root, path, repo)
    if text is None:
        return
    try:
        documents = [d for d in parse(text) if d.data is not None]
    except YamlError as exc:
        repo.diagnostics.append(Diagnostic(CONFIG_FILE, exc.line, exc.column, exc.message, exc.hint, "yaml"))
        return
    if not documents:
        return
    try:
        repo.config = RepoConfig.model_validate(documents[0].data)
    except ValidationError as exc:
        repo.diagnostics.extend(schema_errors.diagnostics(exc, RepoConfig, documents[0], CONFIG_FILE))


def load_repo(root: Path | str, skip: frozenset[str] = frozenset()) -> ConfigRepo:
    """Load every spec under `root` (except folders in `skip`, e.g. `tenants/a`); problems are collected in
    `diagnostics`, never raised."""
    root_path = Path(root).resolve()
    repo = ConfigRepo(root=root_path)
    if not root_path.is_dir():
        repo.diagnostics.append(Diagnostic(str(root), 1, 1, "not a directory", "pass the config repo's root", "file"))
        return repo
    _load_config(root_path, repo)
    seen: dict[SpecKey, Source] = {}
    for path in _spec_files(root_path, repo, SPEC_DIRS, skip):
        _load_file(root_path, path, repo, seen)
    return repo


def load_config(root: Path | str) -> ConfigRepo:
    """Only `mlcp.yaml` (defaults when absent): enough to know the target systems before the specs are read."""
    root_path = Path(root).resolve()
    repo = ConfigRepo(root=root_path)
    if root_path.is_dir():
        _load_config(root_path, repo)
    return repo


def load_folder(root: Path | str, folder: str) -> ConfigRepo:
    """The specs of one folder (e.g. `tenants/a`) exactly as `load_repo` reads them, without mlcp.yaml.

    Specs in different tenant folders never share an identity, so a repo can be
    loaded folder by folder and only the folders that changed read again.
    """
    root_path = Path(root).resolve()
    repo = ConfigRepo(root=root_path)
    seen: dict[SpecKey, Source] = {}
    for path in _spec_files(root_path, repo, (folder,)):
        _load_file(root_path, path, repo, seen)
    return repo
