"""Whether one revision of a config repo descends from another: a base the head does not descend from (a force
push) or that the clone lacks stops attribution instead of judging by all history.

Asked by the history when it opens (reconciler.identity.open_history) and by the loop for a tenant's last applied
revision (reconciler.judging); git runs under the forced config of reconciler.gitverify.
"""

from __future__ import annotations

from pathlib import Path

import git

from controlplane.errors import MlcpError
from reconciler import gitenv
from reconciler.gitverify import git_env


def resolve(repo: git.Repo, rev: str, env: dict[str, str]) -> str | None:
    """The full sha of commit `rev` in `repo`, or None when the clone has no such commit."""
    if not rev or rev.startswith("-"):
        return None
    try:
        return str(repo.git.rev_parse("--verify", "--quiet", f"{rev}^{{commit}}", env=env)).strip() or None
    except git.GitCommandError:
        return None


def ancestor(repo: git.Repo, base: str, head: str, env: dict[str, str]) -> bool:
    """Whether `head` descends from `base` (both full shas of `repo`); MlcpError when git cannot say."""
    try:
        repo.git.merge_base("--is-ancestor", base, head, env=env)
    except git.GitCommandError as exc:
        if exc.status == 1:
            return False
        raise MlcpError(f"cannot compare {base[:10]} and {head[:10]} in {repo.working_dir}: {exc.stderr}") from None
    return True


def descends(path: Path, head: str, revision: str) -> bool:
    """Whether `revision` is a commit of the clone at `path` that `head` descends from (itself included): False
    when the clone lacks it (a force push dropped it) or it lies on another line. MlcpError when git cannot say."""
    repo = gitenv.repo(path)
    env = git_env(None)
    found, tip = resolve(repo, revision, env), resolve(repo, head, env)
    if found is None or tip is None:
        return False
    return ancestor(repo, found, tip, env)
