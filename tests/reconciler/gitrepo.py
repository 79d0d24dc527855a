"""Real git repos in temp dirs for identity tests: every commit names its author explicitly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from reconciler.identity import History, open_history

ADMIN = ("Admin", "admin@example.com")
BOB = ("Bob", "bob@example.com")
MALLORY = ("Mallory", "mallory@example.com")
TRAILER = "Mlcp-Approve"
QUOTA = "tenants/vision/quota.yaml"
PIPELINE = "tenants/vision/pipelines/train.yaml"


class Repo:
    """A real git repo in a temp dir; every commit names its author explicitly."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str, who: tuple[str, str] = ADMIN, check: bool = True, input: str | None = None) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": who[0],
            "GIT_AUTHOR_EMAIL": who[1],
            "GIT_COMMITTER_NAME": who[0],
            "GIT_COMMITTER_EMAIL": who[1],
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.root.parent),
        }
        result = subprocess.run(
            ["git", *args], cwd=self.root, env=env, capture_output=True, text=True, check=False, input=input
        )
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {result.stderr}")
        return result.stdout.strip()

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def commit(self, message: str, who: tuple[str, str] = ADMIN, *extra: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, *extra, who=who)
        return self.git("rev-parse", "HEAD")

    def history(self, base: str | None = None, signed: bool = False, signers: Path | None = None) -> History:
        history = open_history(self.root, self.git("rev-parse", "HEAD"), base, signed, signers)
        assert history is not None
        return history


def authors(history: History, path: str) -> tuple[str, ...]:
    return history.authorship([path]).actors


def committed(root: Path, files: dict[str, str]) -> Repo:
    """A repo at `root` whose one commit holds `files` (repo-relative path → text)."""
    repo = Repo(root)
    for rel, text in files.items():
        repo.write(rel, text)
    repo.commit("first")
    return repo


def initial_repo(tmp_path: Path) -> Repo:
    """A repo with a quota, a pipeline and a tenant file, committed by the admin."""
    repo = Repo(tmp_path / "config")
    repo.write(QUOTA, 'gpu: "4"\n')
    repo.write(PIPELINE, "image: data:1\n")
    repo.write("tenants/vision/tenant.yaml", "name: vision\n")
    repo.commit("initial config")
    return repo


def approve(repo: Repo, who: tuple[str, str], value: str) -> str:
    """An approval commit: no change, one trailer."""
    return repo.commit(f"approve\n\n{TRAILER}: {value}", who)
