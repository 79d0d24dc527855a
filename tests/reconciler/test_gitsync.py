"""The loop's checkout is exactly the branch's tip, whatever was left in the clone (so nothing is uncommitted)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from reconciler.gitsync import GitSource

WHO = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
WHO |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def _git(root: Path, *argv: str) -> str:
    done = subprocess.run(["git", *argv], cwd=root, env={**os.environ, **WHO}, check=True, capture_output=True)
    return done.stdout.decode().strip()


def test_a_sync_leaves_no_file_that_differs_from_the_revision(tmp_path: Path) -> None:
    """`Checkout.clean` lets the authorizer skip `git status` (O(files)): it must hold even when the clone's work
    tree was edited, added to, or given ignored files (the loader reads those as readily as any other)."""
    origin = tmp_path / "origin"
    (origin / "tenants" / "a").mkdir(parents=True)
    (origin / "tenants" / "a" / "tenant.yaml").write_text("kind: Tenant\n")
    (origin / ".gitignore").write_text("*.local.yaml\n")
    _git(origin, "init", "-q", "-b", "main")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "one")
    source = GitSource(str(origin), "main", tmp_path / "clone")
    first = source.sync()
    assert first.clean and first.revision == _git(origin, "rev-parse", "HEAD")
    clone = first.path
    (clone / "tenants" / "a" / "tenant.yaml").write_text("kind: Tenant\nstray: edit\n")
    (clone / "tenants" / "a" / "extra.yaml").write_text("kind: Pipeline\n")
    (clone / "tenants" / "a" / "x.local.yaml").write_text("kind: Pipeline\n")
    (clone / "tenants" / "b").mkdir()
    (clone / "tenants" / "b" / "tenant.yaml").write_text("kind: Tenant\n")
    _git(clone, "add", "tenants/a/extra.yaml")  # staged, too
    again = source.sync()
    assert again.clean and again.revision == first.revision
    status = _git(clone, "status", "--porcelain", "--untracked-files=all", "--ignored")
    assert status == "", status
    assert (clone / "tenants" / "a" / "tenant.yaml").read_text() == "kind: Tenant\n"
