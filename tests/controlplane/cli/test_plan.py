"""`mlcp plan --head REF` and `mlcp apply SAVED`: a ref that cannot be checked out is a clear error and exit 1.

The ref is checked out before anything connects, so these need no cluster.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from controlplane.cli import console
from controlplane.cli import plan as plan_cli
from controlplane.cli.app import app
from controlplane.errors import MlcpError
from controlplane.plans import Plan
from reconciler.targets import Targets
from tests import gitcraft
from tests.reconciler import gitrepo
from tests.reconciler.gitrepo import Repo

runner = CliRunner()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return gitrepo.committed(tmp_path / "repo", {"mlcp.yaml": "apiVersion: mlcp.dev/v1alpha1\nkind: Config\n"})


def _plan(repo: Repo, head: str) -> tuple[int, str]:
    result = runner.invoke(app, ["plan", str(repo.root), "--head", head, "--kubeconfig", "/nonexistent"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.split())


def test_a_ref_that_names_no_commit_is_refused_clearly(repo: Repo) -> None:
    code, said = _plan(repo, "no-such-branch")
    assert code == 1 and "cannot resolve 'no-such-branch'" in said and "no such commit" in said, said


def test_a_commit_whose_tree_git_refuses_to_write_is_refused_clearly(repo: Repo) -> None:
    crafted = gitcraft.commit_with(repo.git, ["tenants", "a", "..", "b", "tenant.yaml"], "kind: Tenant\n", "x")
    code, said = _plan(repo, "main")
    assert code == 1, said
    assert f"cannot check out 'main' ({crafted[:12]})" in said and "invalid path 'tenants/a/../b/tenant.yaml'" in said
    assert "nothing was planned" in said


def test_a_saved_plan_naming_a_commit_git_refuses_to_write_applies_nothing(repo: Repo, tmp_path: Path) -> None:
    """A saved plan's revision is input (anyone may edit the file): one whose tree git refuses to check out is
    a clear error before anything connects, never a git traceback."""
    crafted = gitcraft.commit_with(repo.git, ["tenants", "a", "..", "b", "tenant.yaml"], "kind: Tenant\n", "x")
    saved = tmp_path / "plan.json"
    saved.write_text(Plan((), revision=crafted, repo=str(repo.root)).to_json(), encoding="utf-8")
    result = runner.invoke(
        app, ["apply", str(saved), "--yes", "--kubeconfig", "/nonexistent", "--repo", str(repo.root)]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and f"cannot check out '{crafted}'" in said, said
    assert "invalid path 'tenants/a/../b/tenant.yaml'" in said and "nothing was applied" in said


def test_plan_base_names_every_changed_file_as_it_is(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--base` lists the files changed since BASE: names any committer chose, printed as text, never as markup (a
    file `notes/[/x]` raised MarkupError after the plan was made) and never in git's quoting (a space or an
    accent made git write the name in quotes with octal escapes)."""
    repo.write("notes/[/x]", "hi\n")
    repo.write("notes/é b.md", "hi\n")
    repo.commit("notes")
    monkeypatch.setattr(
        plan_cli, "compute_with_backends", lambda *_: (Plan((), revision=repo.git("rev-parse", "HEAD")), {})
    )
    saved = tmp_path / "plan.json"
    result = runner.invoke(app, ["plan", str(repo.root), "--base", "HEAD~1", "--out", str(saved)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "spec files changed since HEAD~1: notes/[/x], notes/é b.md" in result.output, result.output
    assert Plan.from_dict(json.loads(saved.read_text())).meta["changedFiles"] == ["notes/[/x]", "notes/é b.md"]


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "piped"])
def test_planning_says_it_is_working_on_a_terminal_only(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    """A plan of thousands of tenants takes minutes of silence; a spinner says what runs, on a terminal only."""
    from reconciler import engine

    shown = io.StringIO()
    monkeypatch.setattr(console, "err", console._ShownConsole(file=shown, force_terminal=terminal, width=100))

    def slow_plan(*args: object, **kwargs: object) -> None:
        raise MlcpError("the cluster did not answer")

    monkeypatch.setattr(engine, "plan_path", slow_plan)
    with pytest.raises(typer.Exit):
        plan_cli.compute_with_backends(repo.root, Targets(), False, False)
    assert ("planning: reading the repo" in shown.getvalue()) is terminal, shown.getvalue()
    assert "the cluster did not answer" in shown.getvalue()
