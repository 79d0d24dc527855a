"""`mlcp run PIPELINE`: start a run of a governed pipeline, as yourself, and optionally follow it.

Exit codes: 0 submitted (with --watch: the run Succeeded), 1 nothing could be
submitted or followed (no such pipeline, not applied, forbidden, unreachable),
2 usage (a bad option or --param), 3 the run finished Failed or Error (--watch).
A run is an operation, never desired state: mlcp does not plan, inventory or
prune Workflows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live

from controlplane import runs
from controlplane.cli import run_view
from controlplane.cli.console import Format, OutputOption, echo, err, fail, markup_safe, out, print_json
from controlplane.cli.options import Context, Kubeconfig, use_limits
from controlplane.loading.repo import load_repo

if TYPE_CHECKING:
    from reconciler.backends.kubernetes_client import KubeClient

EXIT_USAGE = 2
EXIT_RUN_FAILED = 3
EXIT_INTERRUPTED = 130


def command(
    pipeline: Annotated[str, typer.Argument(help="The pipeline's name (metadata.name of its spec).")],
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="The pipeline's tenant (needed when several have one).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="A parameter value (repeatable)."),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow the steps until the run ends; exit 3 if it fails.")
    ] = False,
    repo: Annotated[Path, typer.Option("--repo", help="The config repo that declares the pipeline.")] = Path(),
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    output: OutputOption = Format.text,
) -> None:
    """Run a pipeline from its governed WorkflowTemplate, under your own Kubernetes identity (RBAC decides)."""
    from reconciler import runs as cluster  # noqa: PLC0415 - the cluster side, only for this command
    from reconciler.targets import Targets  # noqa: PLC0415

    use_limits(None)  # the operator's MLCP_MAX_*: a bad one is an error here, not a traceback mid-load
    try:
        given = runs.parse_parameters(param or ())
        loaded_repo = load_repo(repo)
        request = runs.request_for(loaded_repo, runs.find_pipeline(loaded_repo, pipeline, tenant), given)
        api = cluster.caller_client(Targets(kubeconfig=kubeconfig, context=context))
        runs.check_live_parameters(request, cluster.governed_template(api, request))
        created = cluster.submit(api, request)
    except runs.ParameterError as exc:
        raise fail(exc.message, exc.hint, code=EXIT_USAGE) from None
    except runs.RunError as exc:
        raise fail(exc.message, exc.hint) from None
    who = cluster.whoami(api)
    status = runs.status_of(created)
    if output is Format.text:
        caller = f" as {who}" if who else ""
        err.print(
            f"submitted run {status.name} of {request.tenant}/{request.pipeline} in {request.namespace}{caller}",
            markup=False,
        )
    if watch:
        try:
            status = _follow(api, request, status.name, output)
        except runs.RunError as exc:
            raise fail(exc.message, exc.hint) from None
        except KeyboardInterrupt:
            follow = f"kubectl -n {request.namespace} get workflow {status.name}"
            err.print(f"stopped following; the run goes on: {markup_safe(follow)}")
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if output is Format.json:
        print_json(run_view.to_dict(request, status, who, watch))
    elif not watch:
        echo(status.name)
    if watch and not status.succeeded:
        raise typer.Exit(EXIT_RUN_FAILED)


def _follow(api: KubeClient, request: runs.RunRequest, name: str, output: Format) -> runs.RunStatus:
    """Follow the run: a live table on a terminal, a line per change when piped, nothing for JSON."""
    from reconciler import runs as cluster  # noqa: PLC0415 - see command

    if output is Format.json:
        status = cluster.follow(api, request, name, lambda _: None)
    elif out.is_terminal:
        with Live(console=out, auto_refresh=False) as live:
            status = cluster.follow(
                api,
                request,
                name,
                lambda s: live.update(run_view.table(s), refresh=True),
            )
    else:
        seen: list[runs.RunStatus] = []

        def lines(s: runs.RunStatus) -> None:
            for line in run_view.changes(seen[-1] if seen else None, s):
                echo(line)
            seen.append(s)

        status = cluster.follow(api, request, name, lines)
    if output is Format.text:
        text, style = run_view.summary(status)
        out.print(text, style=style, markup=False, highlight=False)
    return status
