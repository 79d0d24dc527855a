"""`mlcp validate`: load a config repo, check schema and cross-references, report everything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controlplane.cli.console import Format, OutputOption, err, print_diagnostics, print_json
from controlplane.cli.options import LimitOption, use_limits
from controlplane.loading.repo import load_repo
from controlplane.validation import validate


def command(
    path: Annotated[Path, typer.Argument(help="Config repo root.")] = Path(),
    output: OutputOption = Format.text,
    limit: LimitOption = None,
) -> None:
    """Validate the specs of a config repo: exit 0 when valid, 1 with every error otherwise."""
    use_limits(limit)
    repo = load_repo(path)
    problems = validate(repo)
    if output is Format.json:
        print_json(
            {
                "valid": not problems,
                "files": repo.files,
                "specs": len(repo.specs),
                "errors": [d.to_dict() for d in problems],
            }
        )
    else:
        print_diagnostics(problems)
        if problems:
            err.print(f"[red]✗[/red] {len(problems)} error(s) in {repo.files} file(s)")
        else:
            err.print(f"[green]✓[/green] {len(repo.specs)} spec(s) in {repo.files} file(s) are valid")
    if problems:
        raise typer.Exit(1)
