"""The fallback actor of an apply: the author of the config repo's HEAD commit.

The authorizer attributes each change to the authors of the commits that
touched its spec, and records them on the change's decision; changes it did
not decide on (no policy, authorization off) are attributed to whoever's
revision is being applied, rather than to nobody.
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


def head_identity(repo_root: Path) -> Identity:
    """The HEAD author's email and the HEAD commit, or `unknown` outside a git work tree."""
    try:
        repo = git.Repo(repo_root, search_parent_directories=False)
        head = repo.head.commit
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return UNKNOWN
    email = head.author.email or head.author.name or "unknown"
    return Identity(actors=(email,), commit=head.hexsha)
