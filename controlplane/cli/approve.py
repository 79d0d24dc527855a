"""`mlcp approve PATH`: approve a model promotion with a commit naming exactly what was reviewed.

The commit carries an `Mlcp-Approve: <spec key>@<content digest>` trailer, so
a later edit of the promotion voids the approval. It is signed when the
AccessPolicy requires signed commits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import git
import typer

from controlplane.cli.console import err, fail
from controlplane.loading.repo import load_repo
from controlplane.policy import approvals
from controlplane.specs import AccessPolicy


def command(
    path: Annotated[Path, typer.Argument(help="The ModelPromotion spec file to approve.")],
) -> None:
    """Approve a ModelPromotion: an empty commit whose trailer names the promotion and its content digest."""
    try:
        repo = git.Repo(path.resolve().parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise fail(f"{path} is not inside a git config repo") from None
    root = Path(str(repo.working_tree_dir))
    config = load_repo(root)
    rel = path.resolve().relative_to(root).as_posix()
    loaded = next((s for s in config.specs if s.source.path == rel), None)
    if loaded is None or loaded.spec.kind != "ModelPromotion":
        raise fail(f"{rel} holds no valid ModelPromotion", "run `mlcp validate` and pass a promotion spec file")
    if rel in {line[3:] for line in repo.git.status("--porcelain").splitlines()}:
        raise fail(f"{rel} has uncommitted changes", "commit the promotion first: approvals name committed content")
    policies = config.of_kind("AccessPolicy")
    signed = bool(policies and cast(AccessPolicy, policies[0].spec).spec.require_signed_commits)
    token = approvals.token(loaded)
    args = ["--allow-empty", "-m", f"Approve {loaded.key}", "--trailer", f"{approvals.TRAILER}: {token}"]
    try:
        repo.git.commit(*(["-S"] if signed else []), *args)
    except git.GitCommandError as exc:
        raise fail(
            f"git commit failed: {exc.stderr.strip() or exc}", "check your git identity and signing key"
        ) from None
    err.print(f"[green]✓[/green] approved {loaded.key} ({token.split('@')[1][:19]}…) in {repo.head.commit.hexsha[:10]}")
