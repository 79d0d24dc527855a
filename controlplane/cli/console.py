"""Shared output plumbing: one stdout console, one stderr console, one output-format option.

Commands print results to stdout and problems to stderr, so `-o json` output can
be piped while errors still reach the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from controlplane.errors import Diagnostic
from controlplane.showable import json_shown, shown


def markup_safe(text: object) -> str:
    """`shown(text)`, also taken literally inside rich markup (a `[` cannot open a style)."""
    return shown(text).replace("[", "\\[")


def line_safe(text: object) -> str:
    """`markup_safe(text)` kept on its line: a newline written as `\\n` (`shown` writes a carriage return as `\\x0d`).
    For a value in a line or a table cell of its own: a newline in outside text would start a line that reads as
    the output's own (a second `result:` of `mlcp audit show`, a row of a table)."""
    return markup_safe(text).replace("\n", "\\n")


class _ShownConsole(Console):
    """A rich console that shows every string it prints through `shown` (markup mlcp writes has no control
    characters, so styles survive): a message that forgot to escape outside text still cannot drive the terminal.
    Tables are not strings: their cells go through `markup_safe` where they are made."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(shown(o) if isinstance(o, str) else o for o in objects), **kwargs)


def echo(text: object = "", *, stderr: bool = False, nl: bool = True) -> None:
    """Plain output (`typer.echo`) made safe to show, for text that is not JSON."""
    typer.echo(shown(text), err=stderr, nl=nl)


out = _ShownConsole(highlight=False, soft_wrap=True)
err = _ShownConsole(stderr=True, highlight=False, soft_wrap=True)


def working(what: str) -> AbstractContextManager[object]:
    """A spinner saying `what` on stderr while a long step runs (a plan of 10,000 tenants takes minutes), on a
    terminal only: piped or in CI, stderr gets nothing but results and problems."""
    return err.status(what) if err.is_terminal else nullcontext()


class Format(StrEnum):
    text = "text"
    json = "json"


OutputOption = Annotated[
    Format, typer.Option("--output", "-o", help="Output format: text for people, json for machines.")
]


def write_chunks(chunks: Iterable[bytes], flush_at: int = 1 << 20) -> None:
    """Machine output given in pieces (a streamed JSON document, each piece whole JSON text), to stdout in writes of
    about `flush_at` bytes, then a newline; shown safe like `print_json`."""
    pending: list[bytes] = []
    size = 0
    for chunk in map(json_shown, chunks):
        pending.append(chunk)
        size += len(chunk)
        if size >= flush_at:
            typer.echo(b"".join(pending), nl=False)
            pending, size = [], 0
    typer.echo(b"".join(pending))


def print_json(data: Any) -> None:
    """Machine output: plain JSON on stdout, never wrapped or coloured; bidi marks, DEL and C1 controls as JSON
    escapes (`json_shown`: the same document to a parser, harmless on the terminal it is often read on)."""
    # orjson: a plan of thousands of objects is megabytes of JSON; the stdlib takes seconds to indent it.
    try:
        document = orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer beyond 64 bits, or nesting deeper than 254 levels (an audit record's diff)
        try:
            document = json.dumps(data, default=str, indent=2, ensure_ascii=False).encode()
        except RecursionError:
            raise fail("the output is nested too deeply to print as JSON") from None
    typer.echo(json_shown(document).decode())


def print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    for d in diagnostics:
        err.print(f"[bold]{markup_safe(d.path)}:{d.line}:{d.column}[/bold]: [red]error[/red]: {markup_safe(d.message)}")
        if d.hint:
            err.print(f"    [dim]hint:[/dim] {markup_safe(d.hint)}")


def fail(message: str, hint: str = "", code: int = 1) -> typer.Exit:
    """Print a clear error (and a hint) to stderr; return the Exit to raise."""
    err.print(f"[red]error[/red]: {markup_safe(message)}")
    if hint:
        err.print(f"    [dim]hint:[/dim] {markup_safe(hint)}")
    return typer.Exit(code)


RICH_LINES_MAX = 400
"""Beyond this many lines (or without a terminal), output is written plain: rich costs ~0.4 ms a line."""


def print_lines(lines: list[tuple[str, str]]) -> None:
    """Styled lines on a terminal; plain, fast text when piped or when there are very many."""
    if out.is_terminal and len(lines) <= RICH_LINES_MAX:
        for text, style in lines:
            out.print(text, style=style, markup=False, highlight=False)
    else:
        echo("\n".join(text for text, _ in lines))
