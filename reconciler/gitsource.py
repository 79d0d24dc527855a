"""What git says about a config repo: the revision, and the commit that last touched each file.

Objects are annotated with the commit of *their* spec file, not the repo's
HEAD, so a commit touching one spec changes one spec's objects, not all of them.

A config repo lives for years: reading its whole history on every plan grew with
its age (8.5 s at 100,000 commits) while the answer only concerns the files the
revision holds. The log is read as git writes it and left as soon as each of them
is placed, so the walk goes back only as far as the oldest of those last changes.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import git

from controlplane.errors import MlcpError
from reconciler import gitenv


@dataclass(frozen=True)
class GitInfo:
    revision: str | None = None
    commits: dict[str, str] = field(default_factory=dict)


def inspect(path: Path, files: Iterable[str]) -> GitInfo:
    """Revision and the last commit of each of `files` (the spec files the caller read) of the repo at `path`
    (empty if it is not a git work tree). A file no commit of HEAD touched has none (uncommitted files:
    authorizing's History.uncommitted)."""
    try:
        repo = gitenv.repo(path, search_parent_directories=False)
        head = repo.head.commit.hexsha
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return GitInfo()
    return GitInfo(revision=head, commits=last_commits(path, head, frozenset(files)))


_CHUNK = 1 << 16
"""Bytes read from git's log at a time."""


def last_commits(path: Path, head: str, files: frozenset[str]) -> dict[str, str]:
    """The newest commit of `git log head` (its order) touching each of `files`, reading the log only until
    every one is placed: a file's last change is the first commit naming it, so older commits cannot change
    the answer. Files git never names are absent (the whole log is read then, as before)."""
    if not files:
        return {}
    argv = ["git", "log", "--format=@%H", "-z", "--name-only", "--no-renames", head, "--"]
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, cwd=path, env=gitenv.environment(), stdout=subprocess.PIPE, stderr=err)
        commits: dict[str, str] = {}
        parser = _LogParser()
        with cast(IO[bytes], process.stdout) as log:
            while len(commits) < len(files):
                chunk = log.read(_CHUNK)
                for name, commit in parser.feed(chunk):
                    if name in files:
                        commits.setdefault(name, commit)
                if not chunk:
                    break
        placed = len(commits) == len(files)
        if placed and process.poll() is None:
            process.kill()  # the rest of the history cannot change the answer
        code = process.wait()
        if code and not placed:
            err.seek(0)
            said = _error_lines(err.read(_CHUNK).decode("utf-8", "replace"))
            raise MlcpError(
                f"cannot read the history of {path}: git log failed ({said})", "check that the clone is intact"
            )
    return commits


class _LogParser:
    """Paths and their commits from the bytes of `git log --format=@%H -z --name-only`, fed as they come."""

    def __init__(self) -> None:
        self._rest = b""
        self._current = ""
        self._first = False

    def feed(self, chunk: bytes) -> Iterator[tuple[str, str]]:
        """The (path, commit) pairs completed by `chunk`; an empty chunk (the end of the log) completes the rest."""
        tokens = (self._rest + chunk).split(b"\0")
        self._rest = tokens.pop() if chunk else b""  # a token is complete only once its NUL came
        for raw in tokens:
            token = raw.decode("utf-8", "surrogateescape")
            if _COMMIT_TOKEN.fullmatch(token):
                self._current, self._first = token[1:], True
                continue
            name = token[1:] if self._first and token.startswith("\n") else token  # the header's newline
            self._first = False
            if name:
                yield name, self._current


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
    parser = _LogParser()
    for chunk in (log.encode("utf-8", "surrogateescape"), b""):
        for name, commit in parser.feed(chunk):
            commits.setdefault(name, commit)
    return commits
