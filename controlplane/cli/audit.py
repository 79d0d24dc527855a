"""`mlcp audit`: read, verify, export and report the hash-chained audit log, and export its anchor.

Every subcommand reads the log the operator names (controlplane.cli.auditlog):
`cluster` by default — the one log the controller and every `mlcp apply` write,
in the controller namespace, reached with the operator's kubeconfig — or a file
(`--audit-log PATH` / `MLCP_AUDIT_LOG`). Records are shown one line per change:
a write's intent folded into its outcome (`--raw` shows every stored record).
With a sharded controller the cluster log holds one chain per shard beside the
main one: list, show, report and verify read them all (controlplane.audit.chains).
A missing or damaged log is a clear message and exit 1, never a traceback.
`verify` and `anchor export` live in controlplane.cli.auditverify: they prove
the log is the one written, where these commands show what it says.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from controlplane.audit import (
    AuditRecord,
    AuditStore,
    Result,
    Verdict,
    chains,
)
from controlplane.audit.chains import ChainRecord, RecordId
from controlplane.audit.query import Query, by_change, parse_time
from controlplane.audit.report import render_html
from controlplane.cli import auditlog, auditverify
from controlplane.cli.console import Format, OutputOption, echo, err, fail, line_safe, markup_safe, out, print_json
from controlplane.cli.options import ControllerNamespace, Kubeconfig
from reconciler.targets import DEFAULT_CONTROLLER_NAMESPACE, Targets

app = typer.Typer(
    help="The audit log: who changed what, when, whether it was allowed, and proof nothing was edited since.",
    no_args_is_help=True,
)

anchor_app = typer.Typer(
    help="The chain head the leader publishes in the cluster: copy it somewhere write-once.", no_args_is_help=True
)
app.add_typer(anchor_app, name="anchor")

AuditLog = auditlog.AuditLog
Context = auditlog.Context
NO_ACTOR = "(none)"
"""Shown for a record that names no actor: a revision refused as a whole (its refusal is no author's doing)."""


class ListFormat(StrEnum):
    table = "table"
    json = "json"


def _open(audit_log: str | None, kubeconfig: str | None, context: str | None, namespace: str) -> AuditStore:
    return auditlog.open_store(audit_log, Targets(kubeconfig, context, controller_namespace=namespace))


def _target(record: AuditRecord) -> str:
    t = record.target
    scope = f"{t['namespace']}/" if t.get("namespace") else ""
    return f"{t.get('kind', '')}/{scope}{t.get('name', '')}"


_RESULT_STYLE = {
    "applied": "green",
    "deleted": "green",
    "failed": "red",
    "denied": "red",
    "interrupted": "red",
    "skipped": "yellow",
    "pending": "yellow",
}


@app.command("list")
def list_(
    audit_log: AuditLog = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only objects of this kind (e.g. WorkflowTemplate).")] = None,
    actor: Annotated[str | None, typer.Option(help="Only changes by an actor whose email contains this.")] = None,
    since: Annotated[str | None, typer.Option(help="From this time: ISO (2024-06-01T12:00Z) or age (7d).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this time (same forms as --since).")] = None,
    decision: Annotated[Verdict | None, typer.Option(help="Only this decision.")] = None,
    result: Annotated[Result | None, typer.Option(help="Only this outcome.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Every stored record (intents apart from outcomes).")] = False,
    chain: Annotated[
        str | None,
        typer.Option(help="Only this chain: `main`, or a shard's (`shard-3`) with a sharded controller; default: all."),
    ] = None,
    output: Annotated[ListFormat, typer.Option("--output", "-o", help="table or json.")] = ListFormat.table,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    controller_namespace: ControllerNamespace = DEFAULT_CONTROLLER_NAMESPACE,
) -> None:
    """List changes, oldest first (one line each, with its outcome), filtered by tenant, kind, actor, time,
    decision or outcome; every chain of a sharded controller merged by time, each record named by its id."""
    with auditlog.clear_errors():
        query = Query(
            tenant=tenant,
            kind=kind,
            actor=actor,
            since=parse_time(since) if since else None,
            until=parse_time(until) if until else None,
            decision=decision,
            result=result,
        )
        stores = auditlog.chain_stores(_open(audit_log, kubeconfig, context, controller_namespace))
        streams = {name: query.select(_changes(stores[name], raw)) for name in chains.pick(stores, chain)}
        labelled = list(chains.merged(streams))
    if output is ListFormat.json:
        print_json([c.to_dict() for c in labelled])
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("id", "time (UTC)", "tenant", "actor", "action", "target", "decision", "result"):
        table.add_column(column)
    for c in labelled:
        r = c.record
        style = _RESULT_STYLE.get(r.result.value, "")
        table.add_row(
            line_safe(c.id),
            line_safe(r.time[:19].replace("T", " ")),
            line_safe(r.tenant or "-"),
            line_safe(", ".join(r.attributed()) or NO_ACTOR),
            line_safe(r.action),
            line_safe(_target(r)),
            f"{r.decision.value} ({line_safe(r.rule)})",
            f"[{style}]{r.result.value}[/{style}]" if style else r.result.value,
        )
    out.print(table)
    err.print(f"{len(labelled)} {'record' if raw else 'change'}(s)")


def _changes(store: AuditStore, raw: bool) -> Iterator[AuditRecord]:
    """A chain's records: one per change (an outcome with its intent's diff), or every stored one."""
    stored = store.records()
    return stored if raw else by_change(stored)


def _diff_lines(diff: tuple[dict[str, Any], ...]) -> list[str]:
    lines = []
    for entry in diff:
        try:
            lines += _entry_lines(entry)
        except RecursionError:  # a sealed record is anyone's to write: nested deeper than specs may be
            lines.append(f"[red]! {line_safe(entry.get('field') or '(created)')}: nested too deeply to show[/red]")
    return lines


def _entry_lines(entry: dict[str, Any]) -> list[str]:
    if not entry.get("field"):
        dumped = yaml.safe_dump(entry.get("new"), sort_keys=True, default_flow_style=False)
        return [f"[green]+ {line_safe(line)}[/green]" for line in dumped.splitlines()]
    old, new = (json.dumps(entry.get(k), sort_keys=True) for k in ("old", "new"))
    path, old, new = (line_safe(v) for v in (entry["field"], old, new))
    return [f"[yellow]~ {path}[/yellow]: [red]{old}[/red] → [green]{new}[/green]"]


def _paired(store: AuditStore, record: AuditRecord) -> tuple[str, AuditRecord | None]:
    """The other half of a write: an outcome's intent, or an intent's outcome (None while it has none)."""
    if record.intent is not None:
        return "intent", store.get(record.intent)
    if record.is_intent:
        return "outcome", next((r for r in store.records() if r.intent == record.seq), None)
    return "", None


@app.command("show")
def show(
    record_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="The record, as `mlcp audit list` names it: its seq in the main chain (42), or CHAIN:SEQ "
            "(shard-3:42) in a shard's chain.",
        ),
    ],
    audit_log: AuditLog = None,
    output: OutputOption = Format.text,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    controller_namespace: ControllerNamespace = DEFAULT_CONTROLLER_NAMESPACE,
) -> None:
    """Show one record in full, with the field diff it applied, and the other half of a write (intent or
    outcome)."""
    with auditlog.clear_errors():
        wanted = RecordId.parse(record_id)
        store = _open(audit_log, kubeconfig, context, controller_namespace)
        if wanted.chain != chains.MAIN:
            stores = auditlog.chain_stores(store)
            store = stores[chains.pick(stores, wanted.chain)[0]]
        record = store.get(wanted.seq)
        if record is None:
            head = store.head()
            log = f"chain {wanted.chain}" if wanted.chain else "the log"
            raise fail(f"no record {wanted}: " + (f"{log} has {head.seq} record(s)" if head else f"{log} is empty"))
        role, other = _paired(store, record)
    if output is Format.json:
        half = {role: ChainRecord(wanted.chain, other).to_dict() if other else None} if role else {}
        print_json({**ChainRecord(wanted.chain, record).to_dict(), **half})
        return
    _print_record(record, wanted)
    if role:
        other_id = RecordId(wanted.chain, other.seq) if other else None
        what = f"record {other_id}, {other.time[:19].replace('T', ' ')}: {other.result.value}" if other else "none yet"
        out.print(f"  {role + ':':<10}{line_safe(what)}")
    lines = _diff_lines(record.diff or (other.diff if other is not None and role == "intent" else ()))
    if lines:
        out.print("  diff:")
        for line in lines:
            out.print(f"    {line}")


def _print_record(record: AuditRecord, record_id: RecordId) -> None:
    decision = f"{record.decision.value} by rule {record.rule}" + (f": {record.reason}" if record.reason else "")
    spec = f"{record.spec or '-'}" + (f" ({record.spec_path})" if record.spec_path else "")
    fields = [
        ("time", record.time),
        ("actors", ", ".join(record.attributed()) or NO_ACTOR),
        ("signer", record.signer or "-"),
        ("commit", record.commit or "-"),
        ("tenant", record.tenant or "-"),
        ("spec", spec),
        ("target", f"{_target(record)} ({record.target.get('system', '?')})"),
        ("action", record.action),
        ("decision", decision),
        ("result", record.result.value + (f": {record.error}" if record.error else "")),
        ("before", record.before or "-"),
        ("after", record.after or "-"),
        ("prev", record.prev),
        ("hash", record.hash),
    ]
    chain = f"  (chain {record_id.chain})" if record_id.chain else ""
    out.print(f"[bold]record {record_id}[/bold]{chain}")
    for name, value in fields:
        out.print(f"  {name + ':':<10}{line_safe(value)}")


app.command("verify")(auditverify.verify)  # proof the log is the one written: auditverify


@app.command("export")
def export(
    audit_log: AuditLog = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    controller_namespace: ControllerNamespace = DEFAULT_CONTROLLER_NAMESPACE,
) -> None:
    """Copy the log as JSON Lines, byte for byte, so the copy verifies on its own (as a file log)."""
    with auditlog.clear_errors():
        lines = _open(audit_log, kubeconfig, context, controller_namespace).raw_lines()
        if out_file is None and out.is_terminal:  # a person reads it: control characters shown, never obeyed
            for line in lines:
                echo(line.decode("utf-8", "replace"), nl=False)
            return
        if out_file is None:  # a pipe or a file: the bytes as stored, so the copy verifies
            for line in lines:
                sys.stdout.buffer.write(line)
            sys.stdout.flush()
            return
        count = 0
        try:
            with out_file.open("wb") as stream:
                for line in lines:
                    stream.write(line)
                    count += 1
        except OSError as exc:
            raise fail(f"cannot write {out_file}: {exc.strerror}") from None
    err.print(f"exported {count} record(s) to {markup_safe(out_file)}")


@app.command("report")
def report(
    html: Annotated[Path, typer.Option("--html", help="Write a self-contained HTML report here.")],
    audit_log: AuditLog = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    controller_namespace: ControllerNamespace = DEFAULT_CONTROLLER_NAMESPACE,
) -> None:
    """Write an HTML report: filters, a timeline, and who changed what per tenant (one row per change); every
    chain of a sharded controller, each verified, merged by time."""
    with auditlog.clear_errors():
        store = _open(audit_log, kubeconfig, context, controller_namespace)
        stores = auditlog.chain_stores(store)
        verifications = [(name, chain_store.verify()) for name, chain_store in stores.items()]
        records = list(chains.merged({name: by_change(s.records()) for name, s in stores.items()}))
    try:
        html.write_text(render_html(records, verifications, store.location), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {html}: {exc.strerror}") from None
    chains_read = f" in {len(stores)} chains" if len(stores) > 1 else ""
    err.print(f"wrote {markup_safe(html)} ({len(records)} change(s){chains_read})")


anchor_app.command("export")(auditverify.anchor_export)
