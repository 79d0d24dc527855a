"""`mlcp policy can`: the work tree's draft policy, or with --trusted-base the policy that judges plans."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.controlplane.helpers import edit, mlcp


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "a"}
    env |= {"GIT_COMMITTER_EMAIL": "a@example.com", "PATH": "/usr/bin:/bin", "HOME": str(repo)}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def self_granted(repo: Path) -> tuple[Path, str]:
    """The template committed (the base), then Carol's commit adding herself to platform-team."""
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    base = _git(repo, "rev-parse", "HEAD").strip()
    edit(
        repo,
        "policies/access.yaml",
        "      - admin@example.com\n",
        "      - admin@example.com\n      - carol@example.com\n",
    )
    _git(repo, "commit", "-q", "-am", "carol joins the platform team")
    return repo, base


def test_the_work_tree_draft_answers_without_a_base(self_granted: tuple[Path, str]) -> None:
    repo, _ = self_granted
    result = mlcp("policy", "can", "carol@example.com", "update", "AccessPolicy", "--repo", repo)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("yes (platform-admin.rules[0])")


def test_the_trusted_base_answers_as_plans_are_judged(self_granted: tuple[Path, str]) -> None:
    repo, base = self_granted
    args = ("policy", "can", "carol@example.com", "update", "AccessPolicy", "--repo", repo, "-o", "json")
    result = mlcp(*args, "--trusted-base", base)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["allowed"] is False
    assert mlcp(*args, "--trusted-base", "HEAD").exit_code == 0


@pytest.mark.parametrize("base", ["nope", "HEAD@{99}", "@{-1}"])
def test_an_unknown_base_is_a_clear_error(self_granted: tuple[Path, str], base: str) -> None:
    """Reflog forms GitPython could not parse (`HEAD@{99}`, `@{-1}`) ended in a traceback."""
    repo, _ = self_granted
    result = mlcp("policy", "can", "carol@example.com", "update", "Quota", "--repo", repo, "--trusted-base", base)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1 and f"the trusted base {base!r} is not a commit" in " ".join(result.output.split())
