"""`mlcp apply`: plan (or load a reviewed plan) and make the live systems match it.

A saved plan is applied exactly as reviewed, and refused if anything it looked
at changed since. Without --yes, apply asks before writing; without a
terminal it refuses instead of guessing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from controlplane.cli import audit, plan_view
from controlplane.cli.console import Format, OutputOption, err, fail, print_json, print_lines
from controlplane.cli.options import (
    AllowNamespaceDeletion,
    Context,
    ControllerNamespace,
    Kubeconfig,
    Prune,
    TrackingUri,
    TrustedBase,
)
from controlplane.cli.plan import compute_with_backends
from controlplane.errors import MlcpError
from controlplane.loading.repo import load_repo
from controlplane.plans import Plan
from reconciler.applying import ApplyReport, apply_plan, stale_changes
from reconciler.backends.base import ApplyOptions, Backend, BackendError, Outcome, Status
from reconciler.targets import DEFAULT_CONTROLLER_NAMESPACE, Targets


def _load_saved(path: Path, targets: Targets) -> tuple[Plan, dict[str, Backend]]:
    try:
        plan = Plan.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise fail(f"{path} is not a saved mlcp plan: {exc}", "create one with `mlcp plan --out FILE`") from None
    repo = load_repo(plan.repo or ".")
    try:
        from reconciler import engine  # noqa: PLC0415 - heavy; only commands that touch live systems pay for it

        backends = engine.connect(repo, targets)
        states, _ = engine.read_live(backends)
    except (MlcpError, BackendError) as exc:
        raise fail(str(exc)) from None
    stale = stale_changes(plan, states)
    if stale:
        for line in stale[:20]:
            err.print(f"  {line}")
        raise fail("the live state changed since this plan was made; nothing was applied", "run `mlcp plan` again")
    return plan, backends


def _run(plan: Plan, backends: dict[str, Backend], options: ApplyOptions, concurrency: int) -> ApplyReport:
    total = len(plan.pending)
    if total == 0 or not sys.stderr.isatty():
        return apply_plan(plan, backends, options, concurrency=concurrency, progress=_log)
    columns = (TextColumn("applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("apply", total=total)

        def step(outcome: Outcome) -> None:
            bar.advance(task)
            if outcome.status is Status.failed:
                bar.console.print(f"[red]✗ {outcome.change.ref}: {outcome.message}[/red]")

        return apply_plan(plan, backends, options, concurrency=concurrency, progress=step)


def _log(outcome: Outcome) -> None:
    if outcome.status is Status.failed:
        err.print(f"[red]✗ {outcome.change.ref}: {outcome.message}[/red]")


def command(
    target: Annotated[Path, typer.Argument(help="Config repo root, or a plan saved with `mlcp plan --out`.")] = Path(),
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    prune: Prune = False,
    allow_namespace_deletion: AllowNamespaceDeletion = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Server-side dry run: validate every write, persist none.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force_conflicts: Annotated[
        bool, typer.Option("--force-conflicts", help="Take over fields owned by another field manager.")
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Writes in flight at once within a rank.")] = 8,
    output: OutputOption = Format.text,
    audit_log: audit.AuditLog = None,
    tracking_uri: TrackingUri = None,
    trusted_base: TrustedBase = None,
    controller_namespace: ControllerNamespace = DEFAULT_CONTROLLER_NAMESPACE,
) -> None:
    """Apply the config repo (or a saved plan) to the live systems, as the trusted base's policy allows."""
    targets = Targets(kubeconfig, context, tracking_uri, controller_namespace, trusted_base)
    if target.is_file():
        plan, backends = _load_saved(target, targets)
    else:
        plan, backends = compute_with_backends(
            target, targets, prune, allow_namespace_deletion, lambda exc: audit.record_refusal(exc, target, audit_log)
        )
    if output is Format.text:
        print_lines(plan_view.text_lines(plan))
    if not plan.has_changes:
        if output is Format.json:
            print_json({"plan": plan.to_dict(), "outcomes": []})
        return
    if not yes and not dry_run:
        if not sys.stdin.isatty():
            raise fail("refusing to apply without confirmation", "review the plan, then pass --yes")
        if not typer.confirm("Apply these changes?"):
            raise fail("cancelled; nothing was applied")
    from reconciler import governance  # noqa: PLC0415 - see compute_with_backends

    base = (plan.meta.get("trustedBase") or {}).get("revision")
    revision = governance.next_base(plan, base)
    if revision != plan.revision:
        err.print(
            f"[yellow]![/] a change to the rules was not allowed: the trusted base stays {str(base)[:12]}, "
            "so the next plan is judged by the same rules"
        )
    options = ApplyOptions(dry_run=dry_run, force_conflicts=force_conflicts, revision=revision)
    report = _run(plan, backends, options, concurrency)
    repo_root = Path(plan.repo or ".") if target.is_file() else target
    recorded = dry_run or audit.record_apply(plan, report.outcomes, repo_root, audit_log)
    if output is Format.json:
        print_json(
            {
                "plan": plan.to_dict(),
                "outcomes": [
                    {
                        "ref": o.change.ref.to_dict(),
                        "action": o.change.action.value,
                        "status": o.status.value,
                        "message": o.message,
                    }
                    for o in report.outcomes
                ],
            }
        )
    counts = report.counts()
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    err.print(f"{'[red]✗' if report.failed else '[green]✓'}[/] apply: {summary}{' (dry run)' if dry_run else ''}")
    if report.failed or not recorded:
        raise typer.Exit(1)
