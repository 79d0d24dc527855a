"""`mlcp validate`: load a config repo, check schema and cross-references, report everything.

Whose a registered model name is depends on the trusted base (its tenants keep the names they own there; a folder
it does not know takes none of them), so `--trusted-base REV` / `MLCP_TRUSTED_BASE` names it as for `mlcp plan`:
pull-request CI then reports the squatting folder's claim, not the tenant it would take the name from. The base is
read from git's object store, never from the work tree under review. Without one, the repo's folders decide.
Each tenant's artifact roots (`artifacts.roots`, controlplane/artifact_homes.py) are the base's too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controlplane.cli.console import Format, OutputOption, err, fail, markup_safe, print_diagnostics, print_json
from controlplane.cli.options import LimitOption, use_limits
from controlplane.errors import MlcpError
from controlplane.loading.repo import load_repo
from controlplane.registry_names import Established
from controlplane.validation import validate

ValidateTrustedBase = Annotated[
    str | None,
    typer.Option(
        "--trusted-base",
        envvar="MLCP_TRUSTED_BASE",
        help="The revision whose tenants keep the registry names they own, and whose mlcp.yaml sets each tenant's "
        "artifact roots (read from git, as plans read their trusted base); default: none, the repo's tenant folders "
        "and its own mlcp.yaml decide.",
    ),
]


def _established(path: Path, revision: str) -> Established:
    """The tenants of the trusted base `revision` of the config repo at `path`, or a clear error (exit 1)."""
    from reconciler import baserevision, trust  # noqa: PLC0415 - git and the base loader, only for this option

    try:
        sha, origin = baserevision.choose(path, None, revision)
        return trust.load(path, sha, origin).established
    except MlcpError as exc:
        raise fail(str(exc), exc.hint) from None


def command(
    path: Annotated[Path, typer.Argument(help="Config repo root.")] = Path(),
    output: OutputOption = Format.text,
    limit: LimitOption = None,
    trusted_base: ValidateTrustedBase = None,
) -> None:
    """Validate the specs of a config repo: exit 0 when valid, 1 with every error otherwise."""
    use_limits(limit)
    repo = load_repo(path)
    base = _established(path, trusted_base) if trusted_base else None
    problems = validate(repo, base)
    if output is Format.json:
        document: dict[str, object] = {"valid": not problems, "files": repo.files, "specs": len(repo.specs)}
        if base is not None:  # only when named: the document's shape is otherwise what it always was
            document["trustedBase"] = {"revision": base.revision, "origin": "operator"}
        print_json({**document, "errors": [d.to_dict() for d in problems]})
    else:
        print_diagnostics(problems)
        if base is not None:
            err.print(f"registry names judged by the trusted base {markup_safe(base.revision[:12])}")
        if problems:
            err.print(f"[red]✗[/red] {len(problems)} error(s) in {repo.files} file(s)")
        else:
            err.print(f"[green]✓[/green] {len(repo.specs)} spec(s) in {repo.files} file(s) are valid")
    if problems:
        raise typer.Exit(1)
