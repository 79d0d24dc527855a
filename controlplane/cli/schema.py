"""`mlcp schema`: print a kind's JSON Schema, or write them all for editors and CI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controlplane import schemas
from controlplane.cli.console import err, fail, markup_safe, print_json


def command(
    kind: Annotated[str | None, typer.Argument(help="Spec kind (e.g. Pipeline) or `config`.")] = None,
    write: Annotated[Path | None, typer.Option("--write", help="Write every schema into this directory.")] = None,
    check: Annotated[
        Path | None, typer.Option("--check", help="Exit 1 if schemas in this directory are stale.")
    ] = None,
) -> None:
    """Print the JSON Schema of one spec kind (or write/check all of them)."""
    if write is not None:
        for path in schemas.write(write):
            err.print(f"wrote {markup_safe(path)}")
        return
    if check is not None:
        stale = schemas.stale(check)
        if stale:
            raise fail(f"stale schemas in {check}: {', '.join(stale)}", "run `make schemas` and commit")
        err.print(f"schemas in {markup_safe(check)} are up to date")
        return
    files = schemas.generate()
    if kind is None:
        raise fail("name a kind", f"one of: {', '.join(n.removesuffix('.json') for n in files)}", code=2)
    name = f"{kind.lower()}.json"
    if name not in files:
        raise fail(f"unknown kind {kind!r}", f"one of: {', '.join(n.removesuffix('.json') for n in files)}", 2)
    print_json(files[name])
