"""`mlcp init`: scaffold a config repo from the template and commit it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controlplane.cli.console import err, fail
from controlplane.errors import MlcpError
from controlplane.scaffold import scaffold


def command(
    directory: Annotated[Path, typer.Argument(help="New directory for the config repo.")],
    admin: Annotated[
        str | None,
        typer.Option(help="Email bound as platform admin (default: git's user.email)."),
    ] = None,
) -> None:
    """Create a new config repo with example tenants, pipelines, policy and CI, and commit it."""
    try:
        commit = scaffold(directory, admin)
    except MlcpError as exc:
        raise fail(exc.message, exc.hint) from None
    err.print(f"[green]✓[/green] created {directory} (commit {commit.hexsha[:8]})")
    err.print(f"  next: [bold]mlcp validate {directory}[/bold]")
