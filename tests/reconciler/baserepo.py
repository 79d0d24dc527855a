"""The template config repo committed once, for the trusted base's tests: git run with a fixed identity."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "repo_template"


def run_git(root: Path, *args: str) -> str:
    """git in `root` as author `a@x`: its output; the test fails on an error."""
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    done = subprocess.run(
        ["git", *args], cwd=root, env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The template, committed once on `main`."""
    root = tmp_path / "config"
    shutil.copytree(TEMPLATE, root)
    run_git(root, "init", "-q", "-b", "main")
    run_git(root, "add", "-A")
    run_git(root, "commit", "-q", "-m", "initial")
    return root


def commit_note(root: Path, message: str) -> str:
    """A commit that changes only a note in vision's folder; its sha."""
    (root / "tenants/vision/notes.yaml").write_text(f"# {message}\n")
    run_git(root, "add", "-A")
    run_git(root, "commit", "-q", "-m", message)
    return run_git(root, "rev-parse", "HEAD")
