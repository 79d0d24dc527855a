"""Git objects made as an attacker makes them: with plumbing, not through a work tree.

`git mktree` and `git commit-tree` write any tree entry name but a slash: `..`, `.`, `.git`. No work
tree can hold such a name, so tests of what mlcp does with one must build the tree object by hand.
"""

from __future__ import annotations

from collections.abc import Callable

Git = Callable[..., str]
"""Runs `git ARGS...` in the repo and returns its stdout, stripped (input via `input=`)."""


def graft(git: Git, tree: str | None, parts: list[str], blob: str) -> str:
    """`tree` (a tree id, or None for an empty one) with `blob` added at the path `parts`, whose names are
    taken as given (`..` included); the new tree's id. The trees on the way are merged, not replaced."""
    entries: dict[str, str] = {}
    if tree is not None:
        for line in git("ls-tree", tree).splitlines():
            meta, _, name = line.partition("\t")
            entries[name] = meta
    name = parts[0]
    if len(parts) == 1:
        entries[name] = f"100644 blob {blob}"
    else:
        below = entries.get(name, "").split()
        inner = below[2] if len(below) == 3 and below[1] == "tree" else None
        entries[name] = f"040000 tree {graft(git, inner, parts[1:], blob)}"
    return git("mktree", input="".join(f"{meta}\t{entry}\n" for entry, meta in entries.items()))


def commit_with(git: Git, path: list[str], text: str, message: str, *sign: str) -> str:
    """A commit on top of HEAD whose tree is HEAD's plus `text` at `path` (names as given); `sign`: e.g. `-S`.
    The branch is moved to it with `update-ref`, as a push would: the work tree and index stay as they were."""
    blob = git("hash-object", "-w", "--stdin", input=text)
    tree = graft(git, git("rev-parse", "HEAD^{tree}"), path, blob)
    commit = git("commit-tree", *sign, tree, "-p", "HEAD", "-m", message)
    git("update-ref", "HEAD", commit)
    return commit
