"""The trusted base: the revision whose rules judge every change after it.

A commit must never choose its own judge. So everything that decides whether a
change is allowed — the AccessPolicy, group and tenant memberships behind
`@own`, the allowed signers, approval rules and `mlcp.yaml` — is read from the
last applied revision (recorded by mlcp in the cluster), or from the revision
the operator names with `--trusted-base` / `MLCP_TRUSTED_BASE`, never from the
revision under review. With neither, mlcp refuses: the first committer is
never trusted by default.

Only the files that carry trust are read from the base (`mlcp.yaml`,
`policies/**`, `tenants/<t>/tenant.yaml`), straight from git's object store
into a private folder, and loaded with the same hardened loader as any spec.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import cast

import git

from controlplane.errors import Diagnostic, MlcpError
from controlplane.loading import budgets
from controlplane.loading.repo import CONFIG_FILE, ConfigRepo, load_repo
from controlplane.specs import AccessPolicy, Tenant

ENV = "MLCP_TRUSTED_BASE"
FLAG = "--trusted-base"
POLICY_DIR = "policies"
_REGULAR = ("100644", "100755")


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
    """The base's allowed_signers file, copied to a private path git can read, when the policy names one."""

    @property
    def policy(self) -> AccessPolicy | None:
        found = self.repo.of_kind("AccessPolicy")
        return cast(AccessPolicy, found[0].spec) if found else None

    @property
    def tenants(self) -> dict[str, Tenant]:
        return {s.tenant: cast(Tenant, s.spec) for s in self.repo.of_kind("Tenant") if s.tenant}

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
        git.Repo(repo_path).git.merge_base("--is-ancestor", old, new)
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
    return len(parts) == 3 and parts[0] == "tenants" and parts[2] == "tenant.yaml"


def resolve(repo_path: Path, revision: str) -> str:
    """The full sha of `revision` in the config repo, or a clear error."""
    try:
        return str(git.Repo(repo_path).commit(revision).hexsha)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise MlcpError(f"{repo_path} is not a git repository", "mlcp judges changes by their commits") from None
    except (git.BadName, ValueError, git.GitCommandError):
        raise MlcpError(
            f"the trusted base {revision!r} is not a commit of the config repo at {repo_path}",
            f"fetch it (a shallow clone lacks history), or name another revision with {FLAG} / {ENV}",
        ) from None


def load(repo_path: Path, revision: str, origin: str) -> TrustedBase:
    """Read the governance files of `revision` from git (never from the work tree) and load them."""
    sha = resolve(repo_path, revision)
    limits = budgets.active()
    repo = git.Repo(repo_path)
    listing = repo.git.ls_tree("-r", "-z", "--long", "--full-tree", sha, "--", CONFIG_FILE, POLICY_DIR, "tenants")
    target = Path(tempfile.mkdtemp(prefix=f"base-{sha[:12]}-", dir=_private_dir()))
    files: dict[str, bytes] = {}
    diagnostics: list[Diagnostic] = []
    blobs: list[tuple[str, str]] = []
    for entry in listing.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        mode, kind, blob, size = meta.split()
        if not _wanted(path):
            continue
        if kind != "blob" or mode not in _REGULAR:
            diagnostics.append(Diagnostic(path, 1, 1, f"{path} in the trusted base is not a regular file; ignored"))
            continue
        if size.isdigit() and int(size) > limits.file_bytes:
            diagnostics.append(
                Diagnostic(path, 1, 1, f"{path} in the trusted base is over {limits.file_bytes} bytes; ignored")
            )
            continue
        blobs.append((path, blob))
        if len(blobs) > limits.repo_files:
            raise MlcpError(
                f"the trusted base {sha[:12]} holds more than {limits.repo_files} governance files",
                "name a trusted base within the operator's limits (--limit repo-files), or raise the limit",
            )
    for (path, _), data in zip(blobs, _read_blobs(repo_path, [blob for _, blob in blobs]), strict=True):
        out = target / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        if path.startswith(f"{POLICY_DIR}/"):
            files[path] = data
    loaded = load_repo(target)
    loaded.diagnostics[:0] = diagnostics
    base = TrustedBase(sha, origin, loaded, files)
    return TrustedBase(sha, origin, loaded, files, _signers(base, target))


def _read_blobs(repo_path: Path, blobs: list[str]) -> list[bytes]:
    """The contents of `blobs`, in order, from one `git cat-file --batch` (one round trip, not one per file)."""
    if not blobs:
        return []
    proc = subprocess.run(
        ["git", "-C", str(repo_path), "cat-file", "--batch"],
        input=b"".join(f"{blob}\n".encode() for blob in blobs),
        capture_output=True,
        check=False,
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


def _signers(base: TrustedBase, target: Path) -> Path | None:
    policy = base.policy
    if policy is None:
        return None
    rel = PurePosixPath(policy.spec.allowed_signers_file)
    if rel.is_absolute() or ".." in rel.parts:
        return None  # a signers file outside the repo is no key the base vouches for
    path = target / rel
    return path if str(rel) in base.files and path.is_file() else None
