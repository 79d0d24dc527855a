"""Who to record as the actor of an apply, until the authorizer attributes each change to its authors.

For now it is the author of the config repo's HEAD commit (and HEAD itself as
the commit): the person whose revision is being applied. The authorizer will
replace this with the authors (and verified signers) of the commits that
touched each spec since the last applied revision.
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
