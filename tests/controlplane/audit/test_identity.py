"""The fallback actor of an apply: the author of the applied commit, read as git holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.audit.identity import UNKNOWN, commit_identity, head_identity
from tests.reconciler.gitrepo import ADMIN, MALLORY, Repo


def test_the_author_of_the_named_commit_or_of_head(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    first = repo.commit("first", ADMIN)
    head = repo.commit("second", MALLORY)
    assert commit_identity(repo.root, first).actors == ("admin@example.com",)
    assert commit_identity(repo.root, first).commit == first
    assert head_identity(repo.root).actors == ("mallory@example.com",) and head_identity(repo.root).commit == head


def test_a_replace_ref_never_swaps_the_author(tmp_path: Path) -> None:
    """`refs/replace/<sha>` makes git read another commit for the named one: whoever can push a ref could have
    an apply of the admin's commit recorded as someone else's (or theirs as the admin's)."""
    repo = Repo(tmp_path / "config")
    admins = repo.commit("the admin's", ADMIN)
    mallorys = repo.commit("mallory's", MALLORY)
    repo.git("reset", "-q", "--hard", admins)
    repo.git("replace", admins, mallorys)
    assert repo.git("log", "-1", "--format=%ae") == "mallory@example.com", "git itself follows the replace ref"
    assert head_identity(repo.root).actors == ("admin@example.com",)
    assert commit_identity(repo.root, admins).actors == ("admin@example.com",)


@pytest.mark.parametrize("revision", ["0" * 40, "no-such-branch", "HEAD@{99}", "@{-1}", "--output=x", "HEAD:x"])
def test_a_revision_the_repo_does_not_have_is_unknown(tmp_path: Path, revision: str) -> None:
    repo = Repo(tmp_path / "config")
    repo.commit("first", ADMIN)
    assert commit_identity(repo.root, revision) == UNKNOWN
    assert head_identity(tmp_path / "nowhere") == UNKNOWN
