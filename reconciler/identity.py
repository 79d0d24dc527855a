"""Who changed a spec, according to git — and, when signatures are required, who provably did.

For each spec file, the commits that touched it since the last applied
revision (or, when none did, the commit that last wrote it: a change that only
restores git's content is judged by whoever wrote that content). Under
`requireSignedCommits`, a commit counts only when its SSH signature verifies
against the repo's `allowed_signers` file, and the signer's principal — not the
author field, which anyone can forge — is the identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import git

_SEP = "\x1f"


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    status: str
    """git's %G?: G good, B bad, U good but unknown validity, X/Y expired, R revoked, E cannot check, N none."""
    signer: str

    def identity(self, require_signed: bool) -> str | None:
        """The identity this commit vouches for, or None when it vouches for nobody."""
        if not require_signed:
            return self.author
        return self.signer if self.status == "G" and self.signer else None

    def problem(self, require_signed: bool) -> str | None:
        if not require_signed or self.identity(True):
            return None
        what = {"N": "is not signed", "B": "has a bad signature", "E": "is signed by a key not in allowed_signers"}
        problem = what.get(self.status, f"has an unverified signature ({self.status})")
        return f"commit {self.sha[:10]} by {self.author} {problem}"


@dataclass(frozen=True)
class Authorship:
    """Identities vouching for one spec file's content, and why some commits did not count."""

    actors: tuple[str, ...] = ()
    commits: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass
class History:
    """Commits of a config repo between the last applied revision and the target."""

    repo: git.Repo
    head: str
    base: str | None
    require_signed: bool = False
    allowed_signers: Path | None = None
    _by_file: dict[str, list[Commit]] = field(default_factory=dict)

    def _git(self) -> git.cmd.Git:
        g = self.repo.git
        if self.allowed_signers is not None:
            g = self.repo.git
            g.update_environment(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="gpg.ssh.allowedSignersFile",
                GIT_CONFIG_VALUE_0=str(self.allowed_signers),
            )
        return g

    def _log(self, *args: str) -> list[tuple[Commit, list[str]]]:
        fmt = _SEP.join(["@%H", "%ae", "%G?", "%GS"])
        out = self._git().log(f"--format={fmt}", "--name-only", "--no-renames", *args)
        entries: list[tuple[Commit, list[str]]] = []
        for line in out.splitlines():
            if line.startswith("@"):
                sha, author, status, signer = [*line[1:].split(_SEP), "", "", ""][:4]
                entries.append((Commit(sha, author.lower(), status, signer.lower()), []))
            elif line and entries:
                entries[-1][1].append(line)
        return entries

    def load(self) -> History:
        """Read the range once: `git log base..head` with signature status."""
        span = f"{self.base}..{self.head}" if self.base else self.head
        for commit, files in self._log(span):
            for path in files:
                self._by_file.setdefault(path, []).append(commit)
        return self

    def uncommitted(self) -> set[str]:
        """Files that differ from HEAD in the work tree (modified, staged or untracked)."""
        out = self.repo.git.status("--porcelain", "--untracked-files=all")
        return {line[3:].split(" -> ")[-1] for line in out.splitlines() if len(line) > 3}

    def last_writer(self, path: str) -> list[Commit]:
        return [c for c, _ in self._log("-1", self.head, "--", path)]

    def authorship(self, paths: Iterable[str]) -> Authorship:
        commits: list[Commit] = []
        for path in paths:
            commits.extend(self._by_file.get(path) or self.last_writer(path))
        actors = [c.identity(self.require_signed) for c in commits]
        problems = [p for c in commits if (p := c.problem(self.require_signed))]
        return Authorship(
            actors=tuple(dict.fromkeys(a for a in actors if a)),
            commits=tuple(dict.fromkeys(c.sha for c in commits)),
            problems=tuple(dict.fromkeys(problems)),
        )

    def approvals(self, trailer: str) -> list[tuple[str, str]]:
        """(identity, trailer value) of every commit up to head carrying `trailer` (signed where required)."""
        fmt = _SEP.join(["@%H", "%ae", "%G?", "%GS", f"%(trailers:key={trailer},valueonly,separator=%x1e)"])
        out = self._git().log(f"--format={fmt}", self.head)
        found: list[tuple[str, str]] = []
        for line in out.splitlines():
            if not line.startswith("@"):
                continue
            sha, author, status, signer, values = [*line[1:].split(_SEP), "", "", "", ""][:5]
            who = Commit(sha, author.lower(), status, signer.lower()).identity(self.require_signed)
            for value in values.split("\x1e"):
                if who and value.strip():
                    found.append((who, value.strip()))
        return found


def open_history(
    path: Path, head: str, base: str | None, require_signed: bool, allowed_signers: Path | None
) -> History | None:
    """The history of the config repo at `path`, or None when it is not a git repository."""
    try:
        repo = git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if base is not None:
        try:
            repo.commit(base)
        except (git.BadName, ValueError):
            base = None  # an applied revision this clone does not have: judge by full history
    return History(repo, head, base, require_signed, allowed_signers).load()
