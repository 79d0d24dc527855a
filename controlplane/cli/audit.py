"""`mlcp audit`: read, verify, export and report the hash-chained audit log.

Every subcommand takes `--audit-log PATH` (or `MLCP_AUDIT_LOG`); the default is
`.mlcp/audit.jsonl` under the current directory, the same file `mlcp apply`
writes when run from the config repo root. A missing or damaged log is a clear
message and exit 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from controlplane.audit import AuditError, AuditRecord, Head, JsonlStore, Result, Verdict, default_path
from controlplane.audit.identity import head_identity
from controlplane.audit.outcomes import OutcomeLike, records_for
from controlplane.audit.query import Query, parse_time
from controlplane.audit.report import render_html
from controlplane.cli.console import Format, OutputOption, err, fail, out, print_json
from controlplane.errors import Refused
from controlplane.plans import Plan

app = typer.Typer(
    help="The audit log: who changed what, when, whether it was allowed, and proof nothing was edited since.",
    no_args_is_help=True,
)

AuditLog = Annotated[
    Path | None,
    typer.Option(
        "--audit-log",
        envvar="MLCP_AUDIT_LOG",
        help="Audit log file (default: .mlcp/audit.jsonl in the config repo; for `mlcp audit`, in the current dir).",
    ),
]


class ListFormat(StrEnum):
    table = "table"
    json = "json"


def store_at(path: Path | None, repo_root: Path = Path()) -> JsonlStore:
    """The log named by --audit-log / MLCP_AUDIT_LOG, else the config repo's default."""
    return JsonlStore(path if path is not None else default_path(repo_root))


@contextmanager
def _clear_errors() -> Iterator[None]:
    try:
        yield
    except AuditError as exc:
        raise fail(str(exc), exc.hint) from None


def _esc(text: object) -> str:
    return str(text).replace("[", "\\[")


def _target(record: AuditRecord) -> str:
    t = record.target
    scope = f"{t['namespace']}/" if t.get("namespace") else ""
    return f"{t.get('kind', '')}/{scope}{t.get('name', '')}"


_RESULT_STYLE = {"applied": "green", "deleted": "green", "failed": "red", "denied": "red", "skipped": "yellow"}


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
    output: Annotated[ListFormat, typer.Option("--output", "-o", help="table or json.")] = ListFormat.table,
) -> None:
    """List records, oldest first, filtered by tenant, kind, actor, time, decision or outcome."""
    with _clear_errors():
        query = Query(
            tenant=tenant,
            kind=kind,
            actor=actor,
            since=parse_time(since) if since else None,
            until=parse_time(until) if until else None,
            decision=decision,
            result=result,
        )
        records = list(query.select(store_at(audit_log).records()))
    if output is ListFormat.json:
        print_json([r.to_dict() for r in records])
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("seq", "time (UTC)", "tenant", "actor", "action", "target", "decision", "result"):
        table.add_column(column)
    for r in records:
        style = _RESULT_STYLE.get(r.result.value, "")
        table.add_row(
            str(r.seq),
            r.time[:19].replace("T", " "),
            _esc(r.tenant or "-"),
            _esc(", ".join(r.actors)),
            r.action,
            _esc(_target(r)),
            f"{r.decision.value} ({_esc(r.rule)})",
            f"[{style}]{r.result.value}[/{style}]" if style else r.result.value,
        )
    out.print(table)
    err.print(f"{len(records)} record(s)")


def _diff_lines(diff: tuple[dict[str, Any], ...]) -> list[str]:
    lines = []
    for entry in diff:
        if not entry.get("field"):
            dumped = yaml.safe_dump(entry.get("new"), sort_keys=True, default_flow_style=False)
            lines += [f"[green]+ {_esc(line)}[/green]" for line in dumped.splitlines()]
            continue
        old, new = (json.dumps(entry.get(k), sort_keys=True) for k in ("old", "new"))
        lines.append(f"[yellow]~ {_esc(entry['field'])}[/yellow]: [red]{_esc(old)}[/red] → [green]{_esc(new)}[/green]")
    return lines


@app.command("show")
def show(
    seq: Annotated[int, typer.Argument(help="Sequence number of the record.")],
    audit_log: AuditLog = None,
    output: OutputOption = Format.text,
) -> None:
    """Show one record in full, with the field diff it applied."""
    with _clear_errors():
        store = store_at(audit_log)
        record = store.get(seq)
        if record is None:
            head = store.head()
            raise fail(f"no record {seq}: " + (f"the log has {head.seq} record(s)" if head else "the log is empty"))
    if output is Format.json:
        print_json(record.to_dict())
        return
    decision = f"{record.decision.value} by rule {record.rule}" + (f": {record.reason}" if record.reason else "")
    spec = f"{record.spec or '-'}" + (f" ({record.spec_path})" if record.spec_path else "")
    fields = [
        ("time", record.time),
        ("actors", ", ".join(record.actors)),
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
    out.print(f"[bold]record {record.seq}[/bold]")
    for name, value in fields:
        out.print(f"  {name + ':':<10}{_esc(value)}")
    lines = _diff_lines(record.diff)
    if lines:
        out.print("  diff:")
        for line in lines:
            out.print(f"    {line}")


@app.command("verify")
def verify(
    audit_log: AuditLog = None,
    anchor: Annotated[
        str | None,
        typer.Option(help="SEQ:HASH printed by an earlier verify and kept elsewhere; catches truncation and rewrites."),
    ] = None,
    output: OutputOption = Format.text,
) -> None:
    """Recompute the hash chain; exit 0 if intact, 1 naming the first record that was edited, dropped or moved."""
    with _clear_errors():
        result = store_at(audit_log).verify(Head.parse(anchor) if anchor else None)
    if output is Format.json:
        head = {"seq": result.head.seq, "hash": result.head.hash} if result.head else None
        print_json(
            {"ok": result.ok, "count": result.count, "head": head, "badSeq": result.bad_seq, "problem": result.problem}
        )
    if not result.ok:
        raise fail(f"audit log broken at record {result.bad_seq}: {result.problem}", "records before it are intact")
    if output is Format.text:
        err.print(f"[green]✓[/green] {result.count} record(s), chain intact")
        if result.head:
            out.print(f"head {result.head}")


@app.command("export")
def export(
    audit_log: AuditLog = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Copy the log as JSON Lines, byte for byte, so the copy verifies on its own."""
    with _clear_errors():
        lines = store_at(audit_log).raw_lines()
        if out_file is None:
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
    err.print(f"exported {count} record(s) to {out_file}")


@app.command("report")
def report(
    html: Annotated[Path, typer.Option("--html", help="Write a self-contained HTML report here.")],
    audit_log: AuditLog = None,
) -> None:
    """Write an HTML report: filters, a timeline, and who changed what per tenant."""
    with _clear_errors():
        store = store_at(audit_log)
        verification = store.verify()
        records = list(store.records())
    try:
        html.write_text(render_html(records, verification, str(store.path)), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {html}: {exc.strerror}") from None
    err.print(f"wrote {html} ({len(records)} record(s))")


def record_refusal(exc: Refused, repo_root: Path, audit_log: Path | None) -> None:
    """Record a revision that a security rule refused as a whole (nothing of it was planned or applied)."""
    from reconciler import governance  # noqa: PLC0415 - only apply records refusals

    revision = head_identity(repo_root).commit
    record_apply(
        Plan((), revision=revision), [governance.refusal(exc.rule, exc.message, exc.source)], repo_root, audit_log
    )


def record_apply(plan: Plan, outcomes: Sequence[OutcomeLike], repo_root: Path, audit_log: Path | None) -> bool:
    """Append one record per outcome of `mlcp apply`; report a failure to write them and return False.

    Actors are the spec authors the authorizer put on each change's decision; the config repo's HEAD
    author stands in for changes without one (no policy, or authorization turned off).
    """
    if not outcomes:
        return True
    identity = head_identity(repo_root)
    store = store_at(audit_log, repo_root)
    try:
        store.append_many(records_for(plan, outcomes, actors=identity.actors, signer=identity.signer))
    except (AuditError, OSError) as exc:
        err.print(f"[red]error[/red]: the changes were applied but not recorded in {_esc(store.path)}: {_esc(exc)}")
        return False
    return True
