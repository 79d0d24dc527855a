"""`mlcp promotions history`: which version served an alias, when, from which commit, and who put it there.

Read from the audit log the operator names (like `mlcp audit`), and checked
against the registry the operator names (`--tracking-uri` /
`$MLFLOW_TRACKING_URI`) when there is one: where each alias is, the version
mlcp's inventory record says mlcp set (`recorded`), and the model's tags
(unverified claims). Every disagreement is printed as a warning, and with
`-o json` listed under `disagreements`. Exit 0 with the
history, 1 when the log cannot be read.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from controlplane.audit import AuditError
from controlplane.audit.history import Move, RegistryAlias, disagreements, moves_in
from controlplane.cli import auditlog
from controlplane.cli.console import Format, OutputOption, err, fail, line_safe, markup_safe, out, print_json
from controlplane.cli.options import ControllerNamespace, Kubeconfig, TrackingUri
from reconciler.targets import DEFAULT_CONTROLLER_NAMESPACE, Targets

app = typer.Typer(help="Model promotions: their history, from the audit log and the registry.", no_args_is_help=True)

_STYLE = {"applied": "green", "deleted": "green", "failed": "red", "denied": "red", "interrupted": "red"}


def _gates(move: Move) -> str:
    parts = []
    for gate in move.gates:
        measured = gate.get("measured")
        value = "not logged" if measured is None else _number(measured)
        mark = "✓" if gate.get("passed") is True else "✗"
        parts.append(f"{mark} {gate.get('metric')} {gate.get('comparison')} {_number(gate.get('threshold'))} ({value})")
    return "; ".join(parts) or "-"


def _number(value: object) -> str:
    """A gate's number as `%g`; anything else a sealed record may hold, as it is (shown safe by the console)."""
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def _registry(targets: Targets, model: str, aliases: set[str]) -> tuple[list[RegistryAlias] | None, str]:
    """The registry's aliases of `model` (with the controller namespace's installation's records), or None with why
    they were not read."""
    tracking_uri = targets.resolved_tracking_uri()
    if not tracking_uri:
        return None, "no registry given (--tracking-uri / $MLFLOW_TRACKING_URI): not checked against the registry"
    from reconciler.backends.base import BackendError  # noqa: PLC0415 - the registry client loads only when used
    from reconciler.backends.mlflow_rest import MlflowRest  # noqa: PLC0415
    from reconciler.promotion_registry import read_aliases  # noqa: PLC0415

    try:
        found = read_aliases(MlflowRest(tracking_uri, attempts=2), model, aliases, targets.controller_namespace)
    except BackendError as exc:
        return None, f"the registry could not be read ({exc}): not checked against it"
    if found is None:
        return [], f"the registry at {tracking_uri} has no model {model!r}"
    return found, ""


def history(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    alias: Annotated[str | None, typer.Option("--alias", help="Only this alias (e.g. production).")] = None,
    output: OutputOption = Format.text,
    audit_log: auditlog.AuditLog = None,
    tracking_uri: TrackingUri = None,
    kubeconfig: Kubeconfig = None,
    context: Annotated[
        str | None, typer.Option("--context", help="Kubeconfig context (for the log in the cluster).")
    ] = None,
    controller_namespace: ControllerNamespace = DEFAULT_CONTROLLER_NAMESPACE,
) -> None:
    """Every move of the model's aliases, oldest first: version, time, commit, authors, approvers, gates, outcome."""
    targets = Targets(kubeconfig, context, tracking_uri, controller_namespace=controller_namespace)
    try:
        stores = auditlog.chain_stores(auditlog.open_store(audit_log, targets))
        found = moves_in({name: store.records() for name, store in stores.items()}, model, alias)
    except AuditError as exc:
        raise fail(str(exc), exc.hint) from None
    named = {m.alias for m in found} | ({alias} if alias else set())
    registry, note = _registry(targets, model, named)
    if registry is not None and alias is not None:
        registry = [r for r in registry if r.alias == alias]
    problems = disagreements(found, registry) if registry is not None else []
    if output is Format.json:
        data: dict[str, Any] = {
            "model": model,
            "alias": alias,
            "moves": [m.to_dict() for m in found],
            "registry": None
            if registry is None
            else {r.alias: {"version": r.version, "recorded": r.recorded, "tags": dict(r.tags)} for r in registry},
            "disagreements": problems,
        }
        print_json(data)
    else:
        _table(found)
    if note:
        err.print(f"[dim]{markup_safe(note)}[/dim]")
    for problem in problems:
        err.print(f"[yellow]! registry and audit log disagree[/yellow]: {line_safe(problem)}")
    if output is Format.text:
        err.print(f"{len(found)} move(s) of {markup_safe(model)}" + (f"@{markup_safe(alias)}" if alias else ""))


def _table(found: list[Move]) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("id", "time (UTC)", "alias", "version", "commit", "authors", "approvers", "gates", "outcome"):
        table.add_column(column)
    for move in found:
        style = _STYLE.get(move.outcome, "yellow")
        version = f"{move.previous or '∅'} → {move.version or '∅'}" if move.action != "delete" else "removed"
        outcome = f"[{style}]{move.outcome}[/{style}]" + (" (drift healed)" if move.healed_drift else "")
        if move.error:
            outcome += f": {line_safe(move.error)}"
        elif move.outcome == "denied":
            outcome += f" ({line_safe(move.rule)}): {line_safe(move.reason)}"
        table.add_row(
            line_safe(move.id),
            line_safe(move.time[:19].replace("T", " ")),
            line_safe(move.alias),
            line_safe(version),
            line_safe((move.commit or "-")[:12]),
            line_safe(", ".join(move.shown_authors()) or "-"),
            line_safe(", ".join(move.shown_approvers()) or "-"),
            line_safe(_gates(move)),
            outcome,
        )
    out.print(table)


app.command("history")(history)
