"""Options shared by several commands, defined once (typer `Annotated` aliases)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
