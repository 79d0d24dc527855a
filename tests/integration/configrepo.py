"""Config repos for integration tests: the template with tenants renamed per test.

Every test gets its own tenants, namespaces and controller namespace (where
mlcp keeps its inventory), so tests sharing one API server never see each
other's objects as theirs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import git

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "repo_template"
ACTOR = git.Actor("Test Admin", "admin@example.com")


class ConfigRepo:
    """A git config repo in a temp dir, with helpers to edit and commit specs."""

    def __init__(self, root: Path, prefix: str) -> None:
        self.root = root
        self.prefix = prefix
        self.vision = f"{prefix}-vision"[:63]
        self.nlp = f"{prefix}-nlp"[:63]
        self.system_ns = f"{prefix}-sys"[:63]
        self.git = git.Repo.init(root, initial_branch="main")

    def path(self, rel: str) -> Path:
        return self.root / rel

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.path(rel)
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    def commit(self, message: str, author: git.Actor = ACTOR) -> str:
        self.git.git.add(A=True)
        return str(self.git.index.commit(message, author=author, committer=author).hexsha)


def make(tmp_path: Path, prefix: str, approvals: bool = False) -> ConfigRepo:
    """The template repo, tenants renamed to `<prefix>-vision` / `<prefix>-nlp`, committed.

    Without `approvals`, the template's promotion needs none, so everything applies in one go.
    """
    root = tmp_path / "config"
    shutil.copytree(TEMPLATE, root)
    repo = ConfigRepo(root, prefix)
    (root / "tenants" / "vision").rename(root / "tenants" / repo.vision)
    (root / "tenants" / "nlp").rename(root / "tenants" / repo.nlp)
    repo.edit(f"tenants/{repo.vision}/tenant.yaml", "name: vision", f"name: {repo.vision}")
    repo.edit(f"tenants/{repo.nlp}/tenant.yaml", "name: nlp", f"name: {repo.nlp}")
    repo.edit(f"tenants/{repo.nlp}/tenant.yaml", "namespace: nlp-team", f"namespace: {repo.nlp}")
    repo.edit("mlcp.yaml", "controllerNamespace: mlcp-system", f"controllerNamespace: {repo.system_ns}")
    if not approvals:
        repo.edit(
            f"tenants/{repo.vision}/promotions/detector-production.yaml", "requiredApprovals: 1", "requiredApprovals: 0"
        )
    repo.commit("initial config")
    return repo
