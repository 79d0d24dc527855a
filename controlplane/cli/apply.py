"""`mlcp apply`: plan (or load a reviewed plan) and make the live systems match it.

A saved plan is never trusted: its revision is planned again (with the trusted
base's policy and the operator's settings and flags) and applied only if the
file is exactly that plan and nothing it looked at changed since. Without
--yes, apply asks before writing; without a terminal it refuses instead of
guessing.
"""

from __future__ import annotations

import json
import re
import reprlib
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from controlplane import saved_plans
from controlplane.audit.identity import head_identity
from controlplane.cli import auditlog, plan_view
from controlplane.cli.console import Format, OutputOption, err, fail, markup_safe, print_json, print_lines
from controlplane.cli.options import (
    AllowNamespaceDeletion,
    Context,
    ControllerNamespace,
    Kubeconfig,
    Prune,
    TrackingUri,
    TrustedBase,
    use_limits,
)
from controlplane.cli.plan import compute_with_backends
from controlplane.errors import MlcpError, Refused
from controlplane.plans import PLAN_FORMAT, Plan
from reconciler.applying import ApplyReport, apply_plan
from reconciler.applyrecords import unread_systems
from reconciler.backends.base import ApplyOptions, Backend, BackendError, Outcome, Status
from reconciler.targets import DEFAULT_CONTROLLER_NAMESPACE, Targets
from reconciler.writeloop import Journal

SAVED_PLAN_RULE = "saved-plan"
"""The rule refusing a saved plan that is not what its revision plans now (edited, or the rules moved)."""
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _read_saved(path: Path) -> tuple[dict[str, Any], str, str]:
    """The file's document and the repo and commit it names; a clear error when it is no plan or names none.

    The repo it names is where it was planned, shown in errors only: git is run in the operator's repo
    (`--repo`), never in a folder the file names, whose hooks and configuration are commands git runs."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        why = "nested too deeply to read" if isinstance(exc, RecursionError) else str(exc)
        raise fail(f"{path} is not a saved mlcp plan: {why}", "create one with `mlcp plan --out FILE`") from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise fail(f"{path} is not a saved mlcp plan (format {PLAN_FORMAT})", "create one with `mlcp plan --out FILE`")
    repo, revision = data.get("repo"), data.get("revision")
    if not (isinstance(repo, str) and repo) or not (isinstance(revision, str) and _COMMIT.fullmatch(revision)):
        raise fail(
            f"{path} names no commit of a config repo (repo {reprlib.repr(repo)}, revision "
            f"{reprlib.repr(revision)}), so what it would apply cannot be checked; nothing was applied",
            "plan a committed revision of the config repo with `mlcp plan --out FILE`",
        )
    return data, repo, revision


def _load_saved(
    path: Path,
    root: Path,
    targets: Targets,
    flags: tuple[bool, bool],
    refused: Callable[[Refused, str], None],
) -> tuple[Plan, dict[str, Backend]]:
    """Plan the revision the file names again, in the operator's repo `root` (trusted base, policy, live state,
    the operator's flags: prune, namespace deletion) and return that plan, only if the file is exactly it: the
    file's own decisions, objects and repo are never used."""
    data, repo, revision = _read_saved(path)
    prune, allow_namespace_deletion = flags
    try:
        saved, malformed = Plan.from_dict(data), ""
    except ValueError as exc:  # a field of another shape than mlcp writes: an edited file
        saved, malformed = Plan((), revision, repo), str(exc)[:200]
    from reconciler import gitsource  # noqa: PLC0415 - heavy; only commands that touch live systems pay for it

    try:
        with gitsource.checkout(root, revision) as tree:  # the commit exists: a refusal is recorded under it
            if malformed:
                raise _refuse(path, revision, f"not a plan mlcp writes: {malformed}", lambda e: refused(e, revision))
            fresh, backends = compute_with_backends(
                tree, targets, prune, allow_namespace_deletion, lambda exc: refused(exc, revision)
            )
    except MlcpError as exc:
        raise fail(
            f"{path}: {exc}; nothing was applied",
            f"a saved plan names a commit of its config repo (it was planned in {repo}): run apply in a clone that "
            "has the commit, or name one with --repo, or plan again with `mlcp plan --out FILE`",
        ) from None
    fresh = replace(fresh, repo=str(root.resolve()))
    comparison = saved_plans.compare(saved, fresh)
    for line in [*comparison.stale, *comparison.edited][:20]:
        err.print(f"  {markup_safe(line)}")
    if comparison.edited:
        first = f"{len(comparison.edited)} difference(s), first: {comparison.edited[0]}"
        raise _refuse(path, revision, first, lambda exc: refused(exc, revision))
    if comparison.stale:
        raise fail("the live state changed since this plan was made; nothing was applied", "run `mlcp plan` again")
    return fresh, backends


def _refuse(path: Path, revision: str, why: str, record: Callable[[Refused], None]) -> typer.Exit:
    """Refuse a saved plan that is not what its revision plans now, with an audit record (rule `saved-plan`)."""
    refusal = Refused(
        f"{path} is not the plan revision {revision[:12]} makes now ({why}); nothing was applied",
        "the file was edited, or the trusted base, its policy or the flags (--prune) differ from when it was "
        "planned: plan a committed revision again with `mlcp plan --out FILE`, review it, and apply that",
        SAVED_PLAN_RULE,
        str(path),
    )
    record(refusal)
    return fail(f"refused ({refusal.rule}): {refusal}", refusal.hint)


def _run(
    plan: Plan, backends: dict[str, Backend], options: ApplyOptions, concurrency: int, journal: Journal | None
) -> ApplyReport:
    from reconciler.settling import decided  # noqa: PLC0415 - heavy (git); only when applying

    total = len(plan.pending)
    if total == 0 or not sys.stderr.isatty():
        return apply_plan(
            plan, backends, options, concurrency=concurrency, progress=_log, authorize=decided, audit=journal
        )
    columns = (TextColumn("applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("apply", total=total)

        def step(outcome: Outcome) -> None:
            bar.advance(task)
            if outcome.status is Status.failed:
                bar.console.print(_failure(outcome))

        return apply_plan(
            plan, backends, options, concurrency=concurrency, progress=step, authorize=decided, audit=journal
        )


def _log(outcome: Outcome) -> None:
    if outcome.status is Status.failed:
        err.print(_failure(outcome))


def _failure(outcome: Outcome) -> str:
    """A failed write's line: its message quotes the servers, which quote values others chose (a field manager's
    name in a conflict), so it is outside text, never markup."""
    return f"[red]✗ {markup_safe(outcome.change.ref)}: {markup_safe(outcome.message)}[/red]"


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
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Writes in flight at once.")] = 8,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Exit 2 when the apply held something back: a change the policy blocked or denied was skipped, "
            "or the trusted base stays because a change to the rules was not allowed. 0 only when all applied.",
        ),
    ] = False,
    output: OutputOption = Format.text,
    repo: Annotated[
        Path,
        typer.Option(
            "--repo",
            help="With a saved plan: the config repo (a clone) its commit is planned in again. The repo the file "
            "names is never used: git runs only in a repo the operator names.",
        ),
    ] = Path(),
    audit_log: auditlog.AuditLog = None,
    tracking_uri: TrackingUri = None,
    trusted_base: TrustedBase = None,
    controller_namespace: ControllerNamespace = DEFAULT_CONTROLLER_NAMESPACE,
) -> None:
    """Apply the config repo (or a saved plan) to the live systems, as the trusted base's policy allows."""
    use_limits(None)  # the operator's MLCP_MAX_*: a bad one is an error here, not a traceback mid-load
    targets = Targets(kubeconfig, context, tracking_uri, controller_namespace, trusted_base)
    if target.is_file():
        plan, backends = _load_saved(
            target,
            repo,
            targets,
            (prune, allow_namespace_deletion),
            lambda exc, revision: auditlog.record_refusal(exc, revision, audit_log, targets),
        )
    else:
        plan, backends = compute_with_backends(
            target,
            targets,
            prune,
            allow_namespace_deletion,
            lambda exc: auditlog.record_refusal(exc, head_identity(target).commit, audit_log, targets),
        )
    if output is Format.text:
        print_lines(plan_view.text_lines(plan))
    from reconciler import nextbase  # noqa: PLC0415 - see compute_with_backends

    if not plan.has_changes and (dry_run or not nextbase.advances(plan)):
        if output is Format.json:
            print_json({"plan": plan.to_dict(), "outcomes": []})
        return
    base = (plan.meta.get("trustedBase") or {}).get("revision")
    revision = nextbase.next_base(plan, base)
    if plan.has_changes and not yes and not dry_run:
        if not sys.stdin.isatty():
            raise fail("refusing to apply without confirmation", "review the plan, then pass --yes")
        if not typer.confirm("Apply these changes?"):
            raise fail("cancelled; nothing was applied")
    if revision != plan.revision:
        stays = markup_safe(str(base)[:12])
        err.print(
            f"[yellow]![/] a change to the rules was not allowed: the trusted base stays {stays}, "
            "so the next plan is judged by the same rules"
        )
    options = ApplyOptions(dry_run=dry_run, force_conflicts=force_conflicts, revision=revision)
    repo_root = repo if target.is_file() else target
    try:
        if dry_run:  # nothing changes, nothing is recorded
            report = _run(plan, backends, options, concurrency, None)
        else:
            with auditlog.turn(audit_log, targets, plan, repo_root, backends) as turn:
                report = _run(plan, turn.backends, options, concurrency, turn.journal)
    except BackendError as exc:  # recording the inventory at the end: every write's outcome is in the audit log
        raise fail(
            f"the writes were made, but recording mlcp's inventory failed: {exc}",
            "run `mlcp apply` again once the system answers: it records what exists (see `mlcp audit list`)",
        ) from None
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
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or (
        f"nothing to write; {str(revision)[:12]} recorded as the trusted base" if revision else "nothing to write"
    )
    unread = sorted(unread_systems(plan, backends))
    failed = bool(report.failed or unread)
    err.print(f"{'[red]✗' if failed else '[green]✓'}[/] apply: {summary}{' (dry run)' if dry_run else ''}")
    for system in unread:
        err.print(f"[red]✗[/] {markup_safe(system)} was not read when planning: nothing of it was applied or recorded")
    if failed:
        raise typer.Exit(1)
    if detailed_exitcode and (counts[Status.skipped.value] or revision != plan.revision):
        raise typer.Exit(2)
