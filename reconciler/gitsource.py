"""What git says about a config repo: the revision, and the commit that last touched each file.

Objects are annotated with the commit of *their* spec file, not the repo's
HEAD, so a commit touching one spec changes one spec's objects, not all of them.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import git

from controlplane.errors import MlcpError
from reconciler import gitenv


@dataclass(frozen=True)
class GitInfo:
    revision: str | None = None
    commits: dict[str, str] = field(default_factory=dict)


def inspect(path: Path) -> GitInfo:
    """Revision and per-file last commits of the repo at `path` (empty if it is not a git work tree)."""
    try:
        repo = gitenv.repo(path, search_parent_directories=False)
        head = repo.head.commit.hexsha
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return GitInfo()
    log = repo.git.log("--format=@%H", "-z", "--name-only", "--no-renames", "HEAD", strip_newline_in_stdout=False)
    return GitInfo(revision=head, commits=_last_commits(log))  # uncommitted files: authorizing's History.uncommitted


@contextmanager
def checkout(path: Path, ref: str) -> Iterator[Path]:
    """A temporary detached work tree of `ref`, removed afterwards."""
    try:
        if ref.startswith("-"):
            raise ValueError("a revision never starts with '-'")
        repo = gitenv.repo(path)
        sha = repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")  # the commit must exist, not just parse
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError, ValueError) as exc:
        reason = "no such commit" if isinstance(exc, git.GitCommandError) else str(exc)
        raise MlcpError(
            f"cannot resolve {ref!r} in {path}: {reason}", "pass a branch, tag or commit of the config repo"
        ) from None
    with tempfile.TemporaryDirectory(prefix="mlcp-head-") as tmp:
        tree = Path(tmp) / "tree"
        try:
            repo.git.worktree("add", "--detach", str(tree), sha)
        except git.GitCommandError as exc:
            # git refuses to write a tree holding a name such as `..`, `.` or `.git` (crafted with git's
            # plumbing: no work tree can hold it); it registers no work tree then.
            detail = git_error(exc)
            raise MlcpError(
                f"cannot check out {ref!r} ({sha[:12]}) of {path}: {detail}; nothing was planned or applied",
                "a tree entry git refuses to write (`..`, `.`, `.git`) is crafted, not edited: find who pushed it "
                "and plan a commit whose tree git can check out",
            ) from None
        try:
            yield tree
        finally:
            repo.git.worktree("remove", "--force", str(tree))


def git_error(exc: Exception) -> str:
    """What a failed git command said, on one line: its error lines if it wrote any, else its own words."""
    stderr = str(getattr(exc, "stderr", "") or "")
    return _error_lines(stderr) if stderr.strip() else " ".join(str(exc).split())


def _error_lines(stderr: str) -> str:
    """git's error lines (`error: invalid path 'a/../b'`, `fatal: ...`, and what the remote said), without its
    progress lines and GitPython's quoting."""
    text = stderr.strip()
    if text.startswith("stderr: '") and text.endswith("'"):
        text = text[len("stderr: '") : -1]
    lines = [line.strip() for line in text.splitlines()]
    said = [line for line in lines if line.startswith(("error:", "fatal:", "remote:"))]
    return "; ".join(said) or " ".join(text.split())


def changed_files(path: Path, base: str, head: str) -> list[str]:
    """Files that differ between `base` and `head` (three-dot: since they diverged)."""
    if base.startswith("-") or head.startswith("-"):
        raise MlcpError(f"cannot diff {base}...{head}: a revision never starts with '-'")
    try:
        repo = gitenv.repo(path)
        out = repo.git.diff("-z", "--name-only", f"{base}...{head}")  # -z: names as they are, never quoted
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError) as exc:
        raise MlcpError(f"cannot diff {base}...{head} in {path}: {exc}") from None
    return [name for name in out.split("\0") if name]


@dataclass(frozen=True)
class Delta:
    """What changed from `base` to `head` when `base` is an ancestor: files, and their new last commits."""

    paths: frozenset[str]
    commits: dict[str, str]


def delta(path: Path, base: str, head: str) -> Delta | None:
    """Files changed from `base` to `head` and the commit that last touched each; None when `base` is not an
    ancestor of `head` (a force push) or git cannot tell, so the caller reads everything again."""
    try:
        repo = gitenv.repo(path)
        repo.git.merge_base("--is-ancestor", base, head)
        names = repo.git.diff("-z", "--name-only", "--no-renames", f"{base}..{head}", strip_newline_in_stdout=False)
        log = repo.git.log(
            "--format=@%H", "-z", "--name-only", "--no-renames", f"{base}..{head}", strip_newline_in_stdout=False
        )
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError, ValueError):
        return None
    return Delta(frozenset(n for n in names.split("\0") if n), _last_commits(log))


_COMMIT_TOKEN = re.compile(r"@[0-9a-f]{40}(?:[0-9a-f]{24})?")
"""A commit's line of `git log --format=@%H -z --name-only` (a SHA-1 or SHA-256 name)."""


def _last_commits(log: str) -> dict[str, str]:
    """Each path of a `git log --format=@%H -z --name-only` (newest first) and the newest commit that touched it.

    NUL-separated (`-z`): without it git quotes a path holding a space, a quote or a non-ASCII character
    (`"tenants/vision/r\303\251seau.yaml"`), which then named no file, so its objects lost their commit label and
    the loop's incremental load saw a change it could not place and read everything again."""
    commits: dict[str, str] = {}
    current, first = "", False
    for token in log.split("\0"):
        if _COMMIT_TOKEN.fullmatch(token):
            current, first = token[1:], True
            continue
        path = token[1:] if first and token.startswith("\n") else token  # the header's newline, before its paths
        first = False
        if path and path not in commits:
            commits[path] = current
    return commits
