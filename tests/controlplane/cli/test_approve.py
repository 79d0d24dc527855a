"""`mlcp approve` names committed content only: a promotion edited in the work tree is never approved."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from controlplane.cli.app import app
from tests.integration import configrepo


@pytest.fixture(autouse=True)
def approver(monkeypatch: pytest.MonkeyPatch) -> None:
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Lead")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "ml-lead@example.com")


@pytest.mark.parametrize("name", ["detector production.yaml", "détecteur.yaml"])
def test_an_uncommitted_promotion_is_never_approved(tmp_path: Path, name: str) -> None:
    """The check read `git status --porcelain` lines, in which git quotes a name holding a space or a non-ASCII
    character: such a file's edit passed, and the approval named content no commit holds."""
    repo = configrepo.make(tmp_path, "t")
    old = repo.path(f"tenants/{repo.vision}/promotions/detector-production.yaml")
    new = old.with_name(name)
    old.rename(new)
    repo.commit("a promotion file name git quotes")
    head = repo.git.head.commit.hexsha
    approved = CliRunner().invoke(app, ["approve", str(new), "--version", "3"])
    assert approved.exit_code == 0, approved.output  # committed as it is: approved
    new.write_text(new.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["approve", str(new), "--version", "3"])
    assert result.exit_code == 1 and "has uncommitted changes" in result.output, result.output
    assert repo.git.head.commit.parents[0].hexsha == head, "no approval of uncommitted content was committed"


def test_a_promotion_only_staged_is_not_committed(tmp_path: Path) -> None:
    repo = configrepo.make(tmp_path, "t")
    promotion = repo.path(f"tenants/{repo.vision}/promotions/detector-production.yaml")
    promotion.write_text(promotion.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    repo.git.index.add([str(promotion)])
    result = CliRunner().invoke(app, ["approve", str(promotion), "--version", "3"])
    assert result.exit_code == 1 and "has uncommitted changes" in result.output, result.output


def test_staged_changes_never_ride_in_an_approval(tmp_path: Path) -> None:
    """`git commit` takes whatever is staged: the approval commit then changed files, and a commit that changes
    files approves nothing (the merged or squashed messages of others would speak for its author)."""
    repo = configrepo.make(tmp_path, "t")
    promotion = repo.path(f"tenants/{repo.vision}/promotions/detector-production.yaml")
    quota = repo.path(f"tenants/{repo.vision}/quota.yaml")
    quota.write_text(quota.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    repo.git.index.add([str(quota)])
    head = repo.git.head.commit.hexsha
    result = CliRunner().invoke(app, ["approve", str(promotion), "--version", "3"])
    assert result.exit_code == 1 and "changes are staged" in result.output, result.output
    assert repo.git.head.commit.hexsha == head
    repo.git.git.reset("-q")
    approved = CliRunner().invoke(app, ["approve", str(promotion), "--version", "3"])
    assert approved.exit_code == 0, approved.output
    commit = repo.git.head.commit
    assert len(commit.parents) == 1 and commit.tree == commit.parents[0].tree, "an approval changes nothing"
