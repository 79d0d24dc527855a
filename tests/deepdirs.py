"""Folders nested deeper than a recursive walk can go, without making trees a thousand deep.

A walk that recurses once per folder fails at Python's recursion limit (1,000 frames). Trees that deep outlive
the test: pytest's own clean-up of its temporary folders (shutil.rmtree) recurses as well, and fails on them in
every later session. So the tests nest `DEPTH` folders and run the walk with `HEADROOM` frames above their own.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEPTH = 400
HEADROOM = 250
"""Frames the code under test may use above the test's own: fewer than `DEPTH`, plenty for a loop."""


def make(root: Path) -> Path:
    """`root/d/d/…/d`, `DEPTH` folders deep (one `mkdir -p`: Path.mkdir and os.makedirs recurse too)."""
    deep = root / "/".join(["d"] * DEPTH)
    subprocess.run(["mkdir", "-p", str(deep)], check=True)
    return deep


@contextmanager
def shallow_stack() -> Iterator[None]:
    """Python's recursion limit set `HEADROOM` frames above the caller's, as a deeper tree would make it."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + HEADROOM)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)
