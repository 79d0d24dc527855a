"""The fallback actor of an apply: the author of the revision being applied.

The authorizer attributes each change to the authors of the commits that
touched its spec, and records them on the change's decision; changes it did
not decide on (no policy, authorization off) are attributed to whoever's
revision is being applied, rather than to nobody. A revision refused as a whole
names nobody: its refusal is not any author's doing (a saved plan's file names
no one who made it).

Objects are read as they are, never through replace refs (a `refs/replace/<sha>`
would make git read another commit, with another author, for the one named):
the rule of `reconciler.gitenv`, which this layer cannot import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import git


@dataclass(frozen=True, slots=True)
class Identity:
    actors: tuple[str, ...]
    commit: str | None = None
    signer: str | None = None


UNKNOWN = Identity(actors=("unknown",))


def commit_identity(repo_root: Path, revision: str = "HEAD") -> Identity:
    """The author's email of `revision` (HEAD by default) and its full id, or `unknown` when it cannot be read
    (outside a git work tree, or a revision the repo does not have)."""
    if revision.startswith("-"):
        return UNKNOWN
    try:
        repo = git.Repo(repo_root, search_parent_directories=False)
        repo.git.update_environment(GIT_NO_REPLACE_OBJECTS="1")  # every command, the object reader's too
        commit = repo.commit(repo.git.rev_parse("--verify", "--quiet", f"{revision}^{{commit}}"))  # git's own parser
        email = commit.author.email or commit.author.name or "unknown"
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.BadName, git.GitCommandError, ValueError):
        return UNKNOWN
    return Identity(actors=(email,), commit=commit.hexsha)


def head_identity(repo_root: Path) -> Identity:
    """The HEAD author's email and the HEAD commit, or `unknown` outside a git work tree."""
    return commit_identity(repo_root)
