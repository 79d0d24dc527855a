"""`mlcp approve PATH`: approve a model promotion with a commit naming exactly what was reviewed.

The commit carries an `Mlcp-Approve: <spec key>@<content digest>@version=<N>`
trailer: a later edit of the promotion, or its `fromAlias` moving to another
model version, voids the approval. The version is the one the approver saw
(`--version`, as `mlcp plan` showed it), else the spec's fixed version, else
what `fromAlias` points to in MLflow right now. The commit is signed when the
AccessPolicy requires signed commits.

`--override` approves a change held by a freeze window instead (trailer
`Mlcp-Override`, same token): the window's `override` rule says how many such
approvals, from whom, let it through while the window is open.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, cast

import git
import typer

from controlplane.cli.console import err, fail, markup_safe
from controlplane.cli.options import TrackingUri, use_limits
from controlplane.loading.repo import load_repo
from controlplane.policy import approvals, freezes
from controlplane.specs import AccessPolicy, ModelPromotion
from reconciler import gitenv


def _resolve(promotion: ModelPromotion, version: int | None, tracking_uri: str | None) -> str:
    """The model version this approval is for."""
    if version is not None:
        return str(version)
    if promotion.spec.version is not None:
        return str(promotion.spec.version)
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    model, alias = promotion.spec.model, promotion.spec.from_alias
    if not uri:
        raise fail(
            f"cannot tell which version {model}@{alias} points to: no MLflow tracking URI",
            "pass --version N (the version `mlcp plan` shows), or --tracking-uri / $MLFLOW_TRACKING_URI",
        )
    from reconciler.backends.base import BackendError  # noqa: PLC0415 - only this path talks to MLflow
    from reconciler.backends.mlflow_rest import MlflowRest  # noqa: PLC0415

    try:
        found = MlflowRest(uri).get("registered-models/alias", name=model, alias=alias)
    except BackendError as exc:
        raise fail(f"cannot read {model}@{alias} from MLflow: {exc}", "pass --version N instead") from None
    resolved = (found.get("model_version") or {}).get("version")
    if not resolved:
        raise fail(f"{model}@{alias} is not set in MLflow", "set the alias, or pass --version N")
    return str(resolved)


def _uncommitted(repo: git.Repo, rel: str) -> bool:
    """Whether the work tree's `rel` is not what HEAD holds: edited, staged, untracked or ignored. Asked of git
    for that one literal path: the short format quotes a name with a space or a non-ASCII character, so reading
    its lines found no such file edited."""
    return bool(repo.git.status("--porcelain", "-z", "--untracked-files=all", "--ignored", "--", f":(literal){rel}"))


def _staged(repo: git.Repo) -> bool:
    """Whether the index differs from HEAD: `git commit` would carry those changes into the approval commit."""
    return bool(repo.git.diff("--cached", "--name-only", "-z"))


def command(
    path: Annotated[Path, typer.Argument(help="The ModelPromotion spec file to approve.")],
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="The model version you approve (as `mlcp plan` shows it).")
    ] = None,
    tracking_uri: TrackingUri = None,
    override: Annotated[
        bool,
        typer.Option("--override", help="Approve an emergency override of a freeze window holding this change."),
    ] = False,
) -> None:
    """Approve a ModelPromotion (or, with --override, any change a freeze holds): an empty commit whose trailer
    names the spec and its content digest."""
    use_limits(None)  # the operator's MLCP_MAX_*: a bad one is an error here, not a traceback mid-load
    try:
        repo = gitenv.repo(path.resolve().parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise fail(f"{path} is not inside a git config repo") from None
    root = Path(str(repo.working_tree_dir))
    config = load_repo(root)
    rel = path.resolve().relative_to(root).as_posix()
    loaded = next((s for s in config.specs if s.source.path == rel), None)
    if loaded is None or (loaded.spec.kind != "ModelPromotion" and not override):
        raise fail(f"{rel} holds no valid ModelPromotion", "run `mlcp validate` and pass a promotion spec file")
    if _uncommitted(repo, rel):
        raise fail(f"{rel} has uncommitted changes", "commit the promotion first: approvals name committed content")
    if _staged(repo):
        raise fail(
            "changes are staged: an approval is a commit of its own that changes nothing (one that also changes "
            "files approves nothing)",
            "commit or unstage them first (git commit, git restore --staged)",
        )
    policies = config.of_kind("AccessPolicy")
    # Signed whenever the approver can sign: the policy that judges is the trusted base's, not this work tree's,
    # so an unsigned approval could count for nobody even where this checkout's policy does not ask for one.
    signed = bool(policies and cast(AccessPolicy, policies[0].spec).spec.require_signed_commits) or _can_sign(repo)
    resolved = None
    if loaded.spec.kind == "ModelPromotion":
        resolved = _resolve(cast(ModelPromotion, loaded.spec), version, tracking_uri)
    token = approvals.token(loaded, resolved)
    trailer, verb = (
        (freezes.OVERRIDE_TRAILER, "Override the freeze for") if override else (approvals.TRAILER, "Approve")
    )
    args = ["--allow-empty", "-m", f"{verb} {loaded.key}", "--trailer", f"{trailer}: {token}"]
    try:
        repo.git.commit(*(["-S"] if signed else []), *args)
    except git.GitCommandError as exc:
        raise fail(
            f"git commit failed: {exc.stderr.strip() or exc}", "check your git identity and signing key"
        ) from None
    digest, commit = token.split("@")[1][:19], repo.head.commit.hexsha[:10]
    err.print(f"[green]✓[/green] approved {markup_safe(loaded.key)} ({digest}…) in {commit}")


def _can_sign(repo: git.Repo) -> bool:
    """The approver's git has a signing key configured (`user.signingkey`)."""
    try:
        return bool(repo.git.config("--get", "user.signingkey").strip())
    except git.GitCommandError:
        return False
