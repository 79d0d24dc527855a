"""How `mlcp run` shows a run: a live table of steps on a terminal, one line per change elsewhere, or JSON.

The command only submits and follows; what a person or a script sees is
decided here, from the plain `RunStatus` values `controlplane.runs` reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from controlplane.cli.console import markup_safe
from controlplane.runs import RunRequest, RunStatus, StepStatus

FORMAT = 1
"""Version of the JSON document; its shape is stable within a number (docs/cli.md)."""

STYLES = {
    "Succeeded": ("✓", "green"),
    "Failed": ("✗", "red"),
    "Error": ("✗", "red"),
    "Running": ("…", "yellow"),
    "Pending": ("·", "dim"),
    "Skipped": ("-", "dim"),
    "Omitted": ("-", "dim"),
}


def to_dict(request: RunRequest, status: RunStatus, submitted_as: str | None, watched: bool) -> dict[str, Any]:
    """The machine-readable result (`-o json`)."""
    return {
        "format": FORMAT,
        "name": status.name,
        "namespace": status.namespace or request.namespace,
        "tenant": request.tenant,
        "pipeline": request.pipeline,
        "parameters": request.parameters,
        "submittedAs": submitted_as,
        "watched": watched,
        "phase": status.phase,
        "startedAt": status.started_at,
        "finishedAt": status.finished_at,
        "duration": duration(status.started_at, status.finished_at),
        "message": status.message,
        "steps": [step.to_dict() for step in status.steps],
    }


def duration(started: str | None, finished: str | None) -> float | None:
    """Seconds between two of Argo's timestamps (RFC 3339, `Z`); None while either is unknown."""
    if not started or not finished:
        return None
    begin = datetime.fromisoformat(started.replace("Z", "+00:00"))
    end = datetime.fromisoformat(finished.replace("Z", "+00:00"))
    return (end - begin).total_seconds()


def _phase(phase: str) -> str:
    mark, style = STYLES.get(phase, ("?", "white"))
    return f"[{style}]{mark} {markup_safe(phase)}[/{style}]"


def table(status: RunStatus) -> Table:
    """The run's steps in the order they started, with phase, time taken, attempts and Argo's message."""
    title = f"run {markup_safe(status.namespace)}/{markup_safe(status.name)}  {_phase(status.phase)}"
    grid = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in ("step", "phase", "time", "attempts", "message"):
        grid.add_column(column, no_wrap=column != "message")
    for step in status.steps:
        took = duration(step.started_at, step.finished_at)
        grid.add_row(
            markup_safe(step.name),
            _phase(step.phase),
            f"{took:.0f}s" if took is not None else "",
            str(step.attempts) if step.attempts > 1 else "",
            markup_safe(step.message),
        )
    return grid


def changes(before: RunStatus | None, after: RunStatus) -> list[str]:
    """Plain lines for what changed between two reads of a run (for logs and pipes, not terminals)."""
    lines: list[str] = []
    run_line = [f"run {after.name}: {after.phase}"] if before is None or before.phase != after.phase else []
    seen: dict[str, StepStatus] = {s.name: s for s in before.steps} if before else {}
    for step in after.steps:
        old = seen.get(step.name)
        if old is None or (old.phase, old.attempts) != (step.phase, step.attempts):
            extra = f" (attempt {step.attempts})" if step.attempts > 1 else ""
            note = f": {step.message}" if step.message and step.phase not in ("Running", "Pending") else ""
            lines.append(f"  {step.name}: {step.phase}{extra}{note}")
    return [*lines, *run_line] if after.finished else [*run_line, *lines]  # the outcome after its last steps


def summary(status: RunStatus) -> tuple[str, str]:
    """The last line: the outcome and how long the run took, with its style."""
    took = duration(status.started_at, status.finished_at)
    after = f" in {took:.0f}s" if took is not None else ""
    if status.succeeded:
        return f"✓ run {status.name} Succeeded{after}", "green"
    message = f": {status.message}" if status.message else ""
    return f"✗ run {status.name} {status.phase}{after}{message}", "red"
