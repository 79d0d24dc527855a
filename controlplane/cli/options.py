"""Options shared by several commands, defined once (typer `Annotated` aliases)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controlplane.cli.console import fail
from controlplane.loading import budgets

RepoPath = Annotated[Path, typer.Argument(help="Config repo root.")]
Kubeconfig = Annotated[
    str | None, typer.Option("--kubeconfig", envvar="MLCP_KUBECONFIG", help="Kubeconfig (default: $KUBECONFIG).")
]
Context = Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")]
Prune = Annotated[bool, typer.Option("--prune", help="Delete mlcp-owned objects removed from git.")]
AllowNamespaceDeletion = Annotated[
    bool, typer.Option("--allow-namespace-deletion", help="Let --prune delete unprotected tenant namespaces.")
]
TrackingUri = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI; never taken from the repo)."
    ),
]
TrustedBase = Annotated[
    str | None,
    typer.Option(
        "--trusted-base",
        envvar="MLCP_TRUSTED_BASE",
        help="The revision whose policy judges this change (default: the last applied revision; required when "
        "nothing was applied yet).",
    ),
]
ControllerNamespace = Annotated[
    str,
    typer.Option(
        "--controller-namespace",
        envvar="MLCP_CONTROLLER_NAMESPACE",
        help="Namespace of mlcp's inventory and state; mlcp.yaml may only state the same.",
    ),
]
LimitOption = Annotated[
    list[str] | None,
    typer.Option(
        "--limit",
        metavar="NAME=N",
        help="A budget for reading the repo, e.g. tenant-nodes=400000 (repeatable; default: $MLCP_MAX_<NAME>, "
        "then built-in defaults; see docs/security.md, Limits).",
    ),
]


def use_limits(flags: list[str] | None) -> None:
    """Make the operator's limits (flags over `MLCP_MAX_*`) the ones every load in this process uses."""
    try:
        budgets.configure(budgets.from_settings(flags or ()))
    except budgets.LimitError as exc:
        raise fail(str(exc), "docs/security.md (Limits) lists every limit and its default") from None
