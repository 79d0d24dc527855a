"""Files git checks out through a conversion: their work-tree content is not what the commit holds.

mlcp reads the revision under review from a work tree (the loop's clone, `mlcp plan --head`'s, a saved plan's,
a CI checkout) and judges it by the commits that hold each file. A `.gitattributes` in the revision can make
git write something else than the blob: `working-tree-encoding` re-encodes it on checkout (UTF-7 writes `"` as
`+ACI-`; an ISO 646 variant writes `é` as `{`), so the text a reviewer sees in the commit and the text mlcp
applies differ, and a `filter` runs a driver whose output is whatever it makes. `git status` calls such a file
clean (it converts back to compare), so no other check sees it. Authorization asks this module once per plan
and refuses a change of such a file (authorizing.py, rule `uncommitted`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from controlplane.errors import MlcpError
from reconciler import gitenv

CONVERTING = ("working-tree-encoding", "filter")
"""The attributes that make the checked-out bytes differ from the blob's (`text`/`eol` only change line ends,
which YAML reads alike; `ident` only expands `$Id$`)."""


def converted(root: Path, paths: Iterable[str]) -> dict[str, str]:
    """Of `paths` (repo-relative), those git checks out through a conversion, with the attribute that asks for it
    (`working-tree-encoding=UTF-7`). One `git check-attr` for all of them, as git itself reads the attributes, and
    only when the revision holds a `.gitattributes` (a repo's own `info/attributes` and `core.attributesFile` are
    the operator's)."""
    wanted = sorted(set(paths))
    if not wanted or not _git(root, ["ls-files", "-z", "--", ":(glob)**/.gitattributes"]):
        return {}  # the revision holds no .gitattributes (the usual case: one read of the index, not of the tree)
    out = _git(root, ["check-attr", "-z", "--stdin", *CONVERTING], "\0".join(wanted))
    fields = out.split("\0")
    found: dict[str, str] = {}
    for at in range(0, len(fields) - 2, 3):
        path, attribute, value = fields[at : at + 3]
        if value not in ("unspecified", "unset"):
            found.setdefault(path, f"{attribute}={value}")
    return found


def _git(root: Path, args: list[str], stdin: str = "") -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        input=stdin.encode("utf-8", "surrogateescape"),
        capture_output=True,
        check=False,
        env=gitenv.environment(),
    )
    if done.returncode != 0:
        raise MlcpError(
            f"cannot read the attributes of {root}'s files: {done.stderr.decode(errors='replace').strip()}",
            "check that the clone is intact",
        )
    return done.stdout.decode("utf-8", "surrogateescape")
