"""`mlcp plan` (and its alias `mlcp diff`): what apply would change, without changing anything.

Exit codes follow Terraform's `-detailed-exitcode`: 0 no changes, 1 error,
2 changes present (only with --detailed-exitcode; otherwise 0 on success).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from controlplane.cli import plan_view
from controlplane.cli.console import (
    echo,
    err,
    fail,
    markup_safe,
    print_diagnostics,
    print_lines,
    working,
    write_chunks,
)
from controlplane.cli.options import (
    AllowNamespaceDeletion,
    Context,
    ControllerNamespace,
    Kubeconfig,
    Prune,
    RepoPath,
    TrackingUri,
    TrustedBase,
    use_limits,
)
from controlplane.errors import InvalidConfig, MlcpError, Refused
from controlplane.plans import Plan
from reconciler.backends.base import Backend, BackendError
from reconciler.targets import DEFAULT_CONTROLLER_NAMESPACE, Targets


class PlanFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


def compute_with_backends(
    path: Path,
    targets: Targets,
    prune: bool,
    allow_namespace_deletion: bool,
    refused: Callable[[Refused], None] | None = None,
) -> tuple[Plan, dict[str, Backend]]:
    """Load, render, read live and plan; domain errors become a clear message and exit 1.

    Returns the connected backends too, so apply writes through the same clients that read.
    """
    from reconciler import engine  # noqa: PLC0415 - heavy (cluster clients, renderers); only commands that plan pay for it

    try:
        with working("planning: reading the repo and the live systems, judging every change"):
            plan, backends, _ = engine.plan_path(
                path,
                targets,
                prune=prune,
                allow_namespace_deletion=allow_namespace_deletion,
            )
    except InvalidConfig as exc:
        print_diagnostics(exc.diagnostics)
        raise fail(f"{len(exc.diagnostics)} error(s) in the config repo; nothing was planned") from None
    except Refused as exc:
        if refused is not None:
            refused(exc)
        raise fail(f"refused ({exc.rule}): {exc}", exc.hint) from None
    except (MlcpError, BackendError) as exc:
        raise fail(str(exc), getattr(exc, "hint", "")) from None
    return plan, backends


def show(plan: Plan, output: PlanFormat) -> None:
    if output is PlanFormat.json:
        write_chunks(plan_view.json_chunks(plan))
    elif output is PlanFormat.markdown:
        echo(plan_view.markdown(plan), nl=False)
    else:
        print_lines(plan_view.text_lines(plan))


def command(
    path: RepoPath = Path(),
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    tracking_uri: TrackingUri = None,
    trusted_base: TrustedBase = None,
    controller_namespace: ControllerNamespace = DEFAULT_CONTROLLER_NAMESPACE,
    output: Annotated[PlanFormat, typer.Option("--output", "-o", help="text, json or markdown.")] = PlanFormat.text,
    save: Annotated[Path | None, typer.Option("--out", help="Save the plan to apply it later as reviewed.")] = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes, 0 when none.")
    ] = False,
    prune: Prune = False,
    allow_namespace_deletion: AllowNamespaceDeletion = False,
    base: Annotated[str | None, typer.Option("--base", help="Show spec files changed since this ref.")] = None,
    head: Annotated[
        str | None, typer.Option("--head", help="Plan this ref of the config repo instead of the work tree.")
    ] = None,
) -> None:
    """Show what `mlcp apply` would change in the cluster and registry, judged by the trusted base's policy."""
    use_limits(None)  # the operator's MLCP_MAX_*: a bad one is an error here, not a traceback mid-load
    targets = Targets(kubeconfig, context, tracking_uri, controller_namespace, trusted_base)
    if head is not None:
        from reconciler import gitsource  # noqa: PLC0415 - see compute_with_backends

        try:
            with gitsource.checkout(path, head) as tree:
                plan, _ = compute_with_backends(tree, targets, prune, allow_namespace_deletion)
        except MlcpError as exc:  # the ref itself (compute_with_backends reports its own errors)
            raise fail(str(exc), exc.hint) from None
        plan = replace(plan, repo=str(path.resolve()))  # the repo, not the temporary work tree, for `mlcp apply`
    else:
        plan, _ = compute_with_backends(path, targets, prune, allow_namespace_deletion)
    if base is not None:
        from reconciler import gitsource  # noqa: PLC0415 - see compute_with_backends

        try:
            changed = gitsource.changed_files(path, base, head or "HEAD")
        except MlcpError as exc:
            raise fail(str(exc), exc.hint or "pass a branch, tag or commit of the config repo as --base") from None
        plan.meta["changedFiles"] = changed
        if output is PlanFormat.text:
            err.print(f"spec files changed since {markup_safe(base)}: {markup_safe(', '.join(changed) or 'none')}")
    if save is not None:
        save.write_text(plan.to_json(), encoding="utf-8")
        err.print(f"saved plan to {markup_safe(save)}; apply it with `mlcp apply {markup_safe(save)}`")
    show(plan, output)
    if any(not s.reachable for s in plan.systems):
        raise typer.Exit(1)
    if detailed_exitcode and plan.has_changes:
        raise typer.Exit(2)
