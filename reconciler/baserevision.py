"""Which commit the words that name a trusted base denote: the operator's `--trusted-base` / `MLCP_TRUSTED_BASE`, or
the revision mlcp recorded as applied.

The repo under review must never choose its own judge, and its pushers can create refs: a name that git finds in
several places (a tag beside a branch, a ref named like an abbreviated commit id) is refused instead of being read
in git's order, which would let a pushed tag decide what the operator named. The choice between the two
revisions follows git's ancestry only. Apart from reading the chosen base's files (reconciler.trust).
"""

from __future__ import annotations

import re
from pathlib import Path

import git

from controlplane.errors import MlcpError
from reconciler import gitenv

ENV = "MLCP_TRUSTED_BASE"
FLAG = "--trusted-base"
_FULL_ID = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


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
        gitenv.repo(repo_path).git.merge_base("--is-ancestor", old, new)
    except git.GitCommandError:
        return False
    return True


def resolve(repo_path: Path, revision: str) -> str:
    """The full sha of commit `revision` in the config repo, or a clear error. Git itself parses the revision:
    GitPython's parser raised IndexError or NotImplementedError on reflog forms (`HEAD@{99}`, `@{-1}`).

    A name git finds in several places is refused, never read in git's order: a tag beats a branch of the same
    name and a ref beats an abbreviated commit id, so a tag `main`, or one named like the short id `mlcp init`
    prints, made the operator's `--trusted-base` name the pusher's commit, whose whole content it then vouched for.
    A full commit id is git's own whatever refs exist."""
    try:
        repo = gitenv.repo(repo_path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise MlcpError(f"{repo_path} is not a git repository", "mlcp judges changes by their commits") from None
    try:
        if not revision or revision.startswith("-"):  # an option to git, never a revision
            raise ValueError(revision)
        if _FULL_ID.fullmatch(revision):  # git takes a full object id as it is, whatever refs are named so
            return str(repo.git.rev_parse("--verify", "--quiet", f"{revision}^{{commit}}")).strip()
        status, out, err = repo.git.execute(
            ["git", "-c", "core.warnAmbiguousRefs=true", "rev-parse", "--verify", f"{revision}^{{commit}}"],
            with_extended_output=True,
            with_exceptions=False,
        )
        if status != 0:
            raise ValueError(revision)
    except (ValueError, git.GitCommandError):
        raise MlcpError(
            f"the trusted base {revision!r} is not a commit of the config repo at {repo_path}",
            f"fetch it (a shallow clone lacks history), or name another revision with {FLAG} / {ENV}",
        ) from None
    if "ambiguous" in str(err):  # git's own warning (its messages are read in English: GitPython runs LC_ALL=C)
        raise MlcpError(
            f"the trusted base {revision!r} names more than one thing in the config repo at {repo_path} (a tag, a "
            "branch, another ref or an abbreviated commit id by that name); git would pick one by its own order, "
            "and whoever may push a tag or a branch chooses what it names",
            f"name the trusted base by its full commit id with {FLAG} / {ENV} (git rev-parse <ref>)",
        )
    return str(out).strip()
