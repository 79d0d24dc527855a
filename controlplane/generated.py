"""Files generated from the code's own declarations (the spec reference, the deploy ClusterRole).

Each is written by a `make` target and checked by `make lint`, so a stale copy fails CI instead of misleading a
reader; this module is the one command line both share: write the file, or `--check` that it is fresh.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def stale(path: Path, render: Callable[[], str]) -> bool:
    """Whether `path` differs from what `render` generates now."""
    return not path.exists() or path.read_text(encoding="utf-8") != render()


def main(
    render: Callable[[], str], default: Path, description: str, make_target: str, argv: list[str] | None = None
) -> int:
    """`python -m <module> [PATH] [--check]`: write the generated file, or exit 1 if the file is stale."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("path", nargs="?", type=Path, default=default)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale instead of writing it")
    args = parser.parse_args(argv)
    if args.check:
        if stale(args.path, render):
            print(f"{args.path} is stale: run `make {make_target}` and commit", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(render(), encoding="utf-8")
    print(f"wrote {args.path}", file=sys.stderr)
    return 0
