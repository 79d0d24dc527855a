"""The `mlcp` Typer application: wires commands, turns domain errors into exit codes.

Commands stay thin; everything they do lives in the library so the reconcile
loop runs the same code. Unexpected exceptions are the only tracebacks left,
and those are bugs.
"""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from controlplane import __version__
from controlplane.cli import apply, approve, audit, init, plan, policy, promotions, reconcile, run, schema, validate

app = typer.Typer(
    name="mlcp",
    help="GitOps control plane for ML platforms: validate, plan and apply specs to Kubernetes and MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlcp {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """mlcp: specs in git, planned on pull requests, reconciled with RBAC and an audit log."""


app.command("validate")(validate.command)
app.command("init")(init.command)
app.command("schema")(schema.command)
app.command("plan")(plan.command)
app.command("diff", help="Alias of `mlcp plan`, for kubectl users.")(plan.command)
app.command("apply")(apply.command)
app.command("approve")(approve.command)
app.command("reconcile")(reconcile.command)
app.command("run")(run.command)
app.add_typer(policy.app, name="policy")
app.add_typer(audit.app, name="audit")
app.add_typer(promotions.app, name="promotions")


def main() -> None:
    gc.freeze()  # what the imports built lives until exit: full collections need not walk it again
    app()
