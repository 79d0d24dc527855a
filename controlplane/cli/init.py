"""`mlcp init`: scaffold a config repo from the template and commit it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controlplane.cli.console import err, fail, markup_safe
from controlplane.errors import MlcpError
from controlplane.scaffold import scaffold


def command(
    directory: Annotated[Path, typer.Argument(help="New directory for the config repo.")],
    admin: Annotated[
        str | None,
        typer.Option(help="Email bound as platform admin (default: git's user.email)."),
    ] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(help="The admin's SSH public key (.pub), written to policies/allowed_signers."),
    ] = None,
) -> None:
    """Create a new config repo with example tenants, pipelines, policy and CI, and commit it."""
    try:
        commit = scaffold(directory, admin, signing_key)
    except MlcpError as exc:
        raise fail(exc.message, exc.hint) from None
    shown = markup_safe(directory)
    err.print(f"[green]✓[/green] created {shown} (commit {commit.hexsha[:8]})")
    if commit.gpgsig is None:
        err.print(
            "[yellow]![/] the first commit is not signed: under requireSignedCommits it vouches for nobody; "
            "sign it with `git commit --amend -S --no-edit` (gpg.format ssh, user.signingkey), or commit with "
            "commit.gpgsign set"
        )
    if signing_key is None:
        err.print(
            "[yellow]![/] the policy requires signed commits and no key is in policies/allowed_signers yet: "
            "add your SSH public key there (or re-run with --signing-key), and sign commits (`git config "
            "gpg.format ssh`, `user.signingkey`, `commit.gpgsign true`)"
        )
    err.print(f"  next: [bold]mlcp validate {shown}[/bold]")
    err.print(
        f"  first apply: [bold]mlcp apply {shown} --trusted-base {commit.hexsha}[/bold] "
        "(you vouch for this revision; later ones are judged by what was applied)"
    )
