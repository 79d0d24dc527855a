"""The loop's checkout is exactly the branch's tip, whatever was left in the clone (so nothing is uncommitted).

A tip git refuses to check out is the source's error, and the next good tip syncs: the loop's clone is fed by
whoever can push, and a commit whose tree holds a name such as `..` (made with git's plumbing) is never loaded.
git refuses to write it, and the pass fails at its first stage, before anything is read, judged or applied,
saying which commit and why (not "check the credentials").
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from reconciler.gitsync import GitSource, SourceError
from tests import gitcraft
from tests.reconciler import gitrepo
from tests.reconciler.gitrepo import Repo

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
    (origin / "tenants" / "c").mkdir()  # a new tip: a tenant added, one file changed; strays made meanwhile
    (origin / "tenants" / "c" / "tenant.yaml").write_text("kind: Tenant\n")
    (origin / "tenants" / "a" / "tenant.yaml").write_text("kind: Tenant\nchanged: true\n")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "two")
    (clone / "tenants" / "c").mkdir()
    (clone / "tenants" / "c" / "stray.yaml").write_text("kind: Pipeline\n")  # in a folder the tip brings
    (clone / "tenants" / "a" / "staged.yaml").write_text("kind: Pipeline\n")
    _git(clone, "add", "tenants/a/staged.yaml")
    (clone / "tenants" / "a" / "y.local.yaml").write_text("kind: Pipeline\n")
    moved = source.sync()
    assert moved.clean and moved.revision == _git(origin, "rev-parse", "HEAD") != first.revision
    status = _git(clone, "status", "--porcelain", "--untracked-files=all", "--ignored")
    assert status == "", status
    assert sorted(p.name for p in (clone / "tenants" / "c").iterdir()) == ["tenant.yaml"]


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return gitrepo.committed(tmp_path / "repo", {"tenants/a/tenant.yaml": "kind: Tenant\n"})


def test_a_tip_git_refuses_to_write_fails_the_sync_and_a_fixed_tip_syncs(repo: Repo, tmp_path: Path) -> None:
    source = GitSource(str(repo.root), "main", tmp_path / "work")
    good = source.sync()
    crafted = gitcraft.commit_with(repo.git, ["tenants", "a", "..", "b", "tenant.yaml"], "kind: Tenant\n", "x")

    with pytest.raises(SourceError) as caught:
        source.sync()
    message = caught.value.message
    assert f"cannot check out {crafted[:12]}, the tip of branch 'main'" in message
    assert "invalid path 'tenants/a/../b/tenant.yaml'" in message and "cannot fetch" not in message
    assert not (tmp_path / "b").exists() and not (tmp_path / "work" / "tenants" / "b").exists()
    assert (tmp_path / "work" / "tenants" / "a" / "tenant.yaml").is_file(), "the last good tree stays"

    repo.write("tenants/a/tenant.yaml", "kind: Tenant\nmetadata: {name: a}\n")
    fixed = repo.commit("fixed")  # on top of the crafted one, from an index that never held its entry
    assert repo.git("rev-parse", "HEAD^") == crafted and good.revision != fixed
    assert source.sync().revision == fixed
