"""Human renderings of a Plan: a terminal view with coloured unified diffs, and pull-request markdown.

Kept apart from the commands (Terraform's views) so `plan`, `apply` and the
reconcile loop print plans the same way.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from controlplane.diffing import live_projection
from controlplane.plans import Action, Change, Plan

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


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


FULL_CREATES = 20
"""Up to this many creates, a plan shows each new object in full; beyond, one line each (updates always diff)."""


def text_lines(plan: Plan, show_noop: bool = False) -> list[str]:
    """Rich markup lines for a terminal."""
    lines = []
    creates = sum(1 for c in plan.changes if c.action is Action.create)
    for status in plan.systems:
        if not status.reachable:
            lines.append(
                f"[red]! {status.system} at {_esc(status.target)} is unknown: {_esc(status.error or '')}[/red]"
            )
    for change in plan.changes:
        if change.action is Action.noop and not show_noop:
            continue
        style = _STYLE[change.action]
        head = f"[{style}]{change.action.symbol} {_esc(str(change.ref))}[/{style}]  [dim]{_esc(change.reason)}[/dim]"
        if change.spec:
            head += f"  [dim]({_esc(change.spec)})[/dim]"
        lines.append(head)
        if change.blocked:
            lines.append(f"    [magenta]blocked: {_esc(change.blocked)}[/magenta]")
        elif change.decision is not None:
            who = ", ".join(change.decision.actors) or "nobody"
            lines.append(f"    [dim]allowed by {_esc(change.decision.rule)} for {_esc(who)}[/dim]")
        if change.action is Action.create and creates > FULL_CREATES:
            continue
        for line in unified_diff(change):
            colour = (
                "green"
                if line.startswith("+")
                else "red"
                if line.startswith("-")
                else "cyan"
                if line.startswith("@@")
                else "dim"
            )
            lines.append(f"    [{colour}]{_esc(line)}[/{colour}]")
    lines.append(summary(plan))
    return lines


def summary(plan: Plan) -> str:
    c = plan.counts()
    text = f"Plan: {c['create']} to create, {c['update']} to update, {c['delete']} to delete, {c['no-op']} unchanged"
    if c["blocked"]:
        text += f", {c['blocked']} blocked"
    return text + "."


def markdown(plan: Plan) -> str:
    """A pull-request comment: summary, a table of changes, and collapsible diffs."""
    out = ["### mlcp plan", ""]
    if plan.revision:
        out.append(f"Revision `{plan.revision[:12]}`")
        out.append("")
    for status in plan.systems:
        if not status.reachable:
            out.append(f"> :warning: **{status.system}** at `{status.target}` is unknown: {status.error}")
            out.append("")
    out.append(f"**{summary(plan)}**")
    pending = plan.pending
    if not pending:
        out.append("")
        out.append("No changes. Live state matches git.")
        return "\n".join(out) + "\n"
    out += ["", "| | object | spec | reason | authorization |", "|---|---|---|---|---|"]
    for change in pending:
        reason = change.reason + (f" — **blocked:** {change.blocked}" if change.blocked else "")
        decision = change.decision
        authz = (
            ""
            if decision is None
            else (f"{'✅' if decision.allowed else '⛔'} {decision.rule} ({', '.join(decision.actors) or 'nobody'})")
        )
        out.append(f"| `{change.action.symbol}` | `{change.ref}` | {change.spec or ''} | {reason} | {authz} |")
    for change in pending:
        diff = unified_diff(change)
        if diff:
            out += [
                "",
                f"<details><summary>{change.action.symbol} {change.ref}</summary>",
                "",
                "```diff",
                *diff,
                "```",
                "",
                "</details>",
            ]
    return "\n".join(out) + "\n"
