"""Renderings of a Plan: a terminal view with coloured unified diffs, pull-request markdown, and JSON.

Kept apart from the commands (Terraform's views) so `plan`, `apply` and the
reconcile loop print plans the same way. The JSON is streamed a change at a
time: a no-op plan of 10,000 tenants has 90,000 changes, and one dict tree
plus one string of all of them cost hundreds of megabytes.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Iterator
from typing import Any

import orjson
import yaml

from controlplane.diffing import live_projection
from controlplane.plans import Action, Change, Plan

JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
_NO_CHANGES = b'\n  "changes": []'
_ITEM_INDENT = b"\n    "


def json_chunks(plan: Plan) -> Iterator[bytes]:
    """`plan.to_dict()` as indented JSON (console.print_json's bytes, without the newline), one change at a time."""
    envelope = orjson.dumps(plan.envelope([]), default=str, option=JSON_OPTIONS)
    at = envelope.index(_NO_CHANGES) + len(_NO_CHANGES) - 1  # the `]` of the empty list: changes go before it
    yield envelope[:at]
    for i, change in enumerate(plan.changes):
        item = orjson.dumps(change.to_dict(), default=str, option=JSON_OPTIONS)
        yield (b"," if i else b"") + _ITEM_INDENT + item.replace(b"\n", _ITEM_INDENT)
    if plan.changes:
        yield b"\n  "
    yield envelope[at:]


_STYLE = {Action.create: "green", Action.update: "yellow", Action.delete: "red", Action.noop: "dim"}


def _yaml(data: Any) -> list[str]:
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False).splitlines() if data else []


def unified_diff(change: Change) -> list[str]:
    """A unified diff of the managed fields (live → desired) for one change."""
    desired = change.desired or {}
    if change.action is Action.create:
        before, after = [], _yaml(desired)
    elif change.action is Action.update:
        before, after = _yaml(live_projection(desired, change.diffs)), _yaml(desired)
    else:
        return []
    return list(difflib.unified_diff(before, after, "live", "desired", lineterm="", n=3))[2:]


FULL_CREATES = 20
"""Up to this many creates, a plan shows each new object in full; beyond, one line each (updates always diff)."""

Line = tuple[str, str]
"""(text, style): plain text and the rich style to show it in; the plain text alone is the log form."""


def _diff_style(line: str) -> str:
    if line.startswith("@@"):
        return "cyan"
    return {"+": "green", "-": "red"}.get(line[:1], "dim")


def _change_lines(change: Change, full_create: bool) -> list[Line]:
    head = f"{change.action.symbol} {change.ref}  {change.reason}" + (f"  ({change.spec})" if change.spec else "")
    lines: list[Line] = [(head, _STYLE[change.action])]
    if change.blocked:
        lines.append((f"    blocked: {change.blocked}", "magenta"))
    elif change.decision is not None:
        who = ", ".join(change.decision.actors) or "nobody"
        lines.append((f"    allowed by {change.decision.rule} for {who}", "dim"))
    if change.action is not Action.create or full_create:
        lines.extend((f"    {line}", _diff_style(line)) for line in unified_diff(change))
    return lines


def text_lines(plan: Plan, show_noop: bool = False) -> list[Line]:
    """The plan for a terminal or a log, one (text, style) pair per line."""
    lines: list[Line] = []
    creates = sum(1 for c in plan.changes if c.action is Action.create)
    for status in plan.systems:
        if not status.reachable:
            lines.append((f"! {status.system} at {status.target} is unknown: {status.error or ''}", "red"))
        lines.extend((f"  {status.system} at {status.target}: {note}", "dim") for note in status.notes)
    for change in plan.changes:
        if change.action is not Action.noop or show_noop:
            lines.extend(_change_lines(change, creates <= FULL_CREATES))
    lines.append((summary(plan), "bold"))
    return lines


def summary(plan: Plan) -> str:
    c = plan.counts()
    text = f"Plan: {c['create']} to create, {c['update']} to update, {c['delete']} to delete, {c['no-op']} unchanged"
    if c["blocked"]:
        text += f", {c['blocked']} blocked"
    return text + "."


_MD_ACTIVE = re.compile(r"([\\`*_\[\]<>|~&:@#!])")
"""What markdown (GitHub's) could act on in outside text: emphasis, code, links and images, HTML and entities,
table cells, strikethrough, emoji shortcodes and autolinks (`:`), mentions (`@`) and issue links (`#`)."""


def _md(text: object) -> str:
    """Outside text (a commit author, a reason naming one, a tenant's value) as literal markdown on one line:
    each character markdown could act on escaped with a backslash, which GitHub shows as the character itself.
    So an author named `x | ✅ allowed` cannot close a table cell and open another, link, mention or write HTML."""
    return _MD_ACTIVE.sub(r"\\\1", " ".join(str(text).splitlines()))


def _code(text: object) -> str:
    """Outside text as an inline code span whose backticks no run inside can close (CommonMark's rule)."""
    value = " ".join(str(text).splitlines())
    fence = "`" * (max((len(run) for run in re.findall("`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def _cell_code(text: object) -> str:
    """`_code` inside a table cell, where GitHub splits cells at a `|` even in a code span unless it is escaped."""
    return _code(text).replace("|", "\\|")


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks in `lines`, so no line of a tenant's value can close it."""
    longest = max((len(run) for line in lines for run in re.findall("`+", line)), default=0)
    return "`" * max(3, longest + 1)


def markdown(plan: Plan) -> str:
    """A pull-request comment: summary, a table of changes, and collapsible diffs. Every piece of outside text
    is escaped (`_md`, `_code`, `_fence`, HTML-escaped in `<summary>`): a reviewer reads this comment to decide."""
    out = ["### mlcp plan", ""]
    if plan.revision:
        out.append(f"Revision {_code(plan.revision[:12])}")
        out.append("")
    for status in plan.systems:
        if not status.reachable:
            out.append(
                f"> :warning: **{_md(status.system)}** at {_code(status.target)} is unknown: {_md(status.error)}"
            )
            out.append("")
        for note in status.notes:
            out += [f"> **{_md(status.system)}** at {_code(status.target)}: {_md(note)}", ""]
    out.append(f"**{summary(plan)}**")
    pending = plan.pending
    if not pending:
        out.append("")
        out.append("No changes. Live state matches git.")
        return "\n".join(out) + "\n"
    out += ["", "| | object | spec | reason | authorization |", "|---|---|---|---|---|"]
    for change in pending:
        reason = _md(change.reason) + (f" — **blocked:** {_md(change.blocked)}" if change.blocked else "")
        decision = change.decision
        authz = ""
        if decision is not None:
            who = ", ".join(_cell_code(actor) for actor in decision.actors) or "nobody"
            authz = f"{'✅' if decision.allowed else '⛔'} {_md(decision.rule)} ({who})"
        spec = _md(change.spec) if change.spec else ""
        out.append(f"| {_cell_code(change.action.symbol)} | {_cell_code(change.ref)} | {spec} | {reason} | {authz} |")
    for change in pending:
        diff = unified_diff(change)
        if diff:
            fence = _fence(diff)
            out += [
                "",
                f"<details><summary>{change.action.symbol} {html.escape(str(change.ref))}</summary>",
                "",
                f"{fence}diff",
                *diff,
                fence,
                "",
                "</details>",
            ]
    return "\n".join(out) + "\n"
