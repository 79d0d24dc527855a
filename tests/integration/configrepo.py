"""Config repos for integration tests: the template with tenants renamed per test.

Every test gets its own tenants, namespaces and controller namespace (where
mlcp keeps its inventory), so tests sharing one API server never see each
other's objects as theirs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import git

from reconciler.targets import Targets

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "repo_template"
ACTOR = git.Actor("Test Admin", "admin@example.com")
TENANT = """apiVersion: mlcp.dev/v1alpha1
kind: Tenant
metadata:
  name: {name}
spec:
  owners: [alice@example.com]
"""
"""A minimal tenant: one owner, nothing else (its Namespace, ServiceAccounts, Role, RoleBindings, NetworkPolicy)."""


class ConfigRepo:
    """A git config repo in a temp dir, with helpers to edit and commit specs."""

    def __init__(self, root: Path, prefix: str) -> None:
        self.root = root
        self.prefix = prefix
        self.vision = f"{prefix}-vision"[:63]
        self.nlp = f"{prefix}-nlp"[:63]
        self.system_ns = f"{prefix}-sys"[:63]
        self.experiment = f"{self.vision}/detector"
        """vision's MLflow experiment (the template's `vision/detector`)."""
        self.model = f"{self.vision}-detector"
        """vision's registered model, the one its promotion moves (the template's `vision-detector`)."""
        self.git = git.Repo.init(root, initial_branch="main")
        self.initial = ""

    def path(self, rel: str) -> Path:
        return self.root / rel

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.path(rel)
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    def targets(self, kubeconfig: Path | str | None, tracking_uri: str | None = None, trusted: bool = True) -> Targets:
        """The operator's settings for this repo: its controller namespace and, unless `trusted` is False, the
        initial commit as the trusted base the operator names."""
        return Targets(
            str(kubeconfig) if kubeconfig else None,
            tracking_uri=tracking_uri,
            controller_namespace=self.system_ns,
            trusted_base=self.initial if trusted else None,
        )

    def operator_args(self, trusted: bool = True) -> list[str]:
        """The same settings as CLI flags."""
        return ["--controller-namespace", self.system_ns, *(["--trusted-base", self.initial] if trusted else [])]

    def add_tenant(self, suffix: str) -> str:
        """Write (not commit) a minimal tenant named `<prefix>-<suffix>`; returns its name."""
        name = f"{self.prefix}-{suffix}"[:63]
        folder = self.path(f"tenants/{name}")
        folder.mkdir(parents=True)
        (folder / "tenant.yaml").write_text(TENANT.format(name=name), encoding="utf-8")
        return name

    def commit(self, message: str, author: git.Actor = ACTOR) -> str:
        self.git.git.add(A=True)
        return str(self.git.index.commit(message, author=author, committer=author).hexsha)


def make(tmp_path: Path, prefix: str, approvals: bool = False, signed: bool = False) -> ConfigRepo:
    """The template repo, tenants renamed to `<prefix>-vision` / `<prefix>-nlp`, committed.

    The registry names follow (tenants own theirs): vision's experiment is
    `<prefix>-vision/detector`, its model `<prefix>-vision-detector`. Without
    `approvals`, the template's promotion needs none (and the policy's approval rule is dropped), so
    everything applies in one go. Without `signed`, the policy trusts unsigned commits (the template's
    default is to require signatures; tests of signing pass `signed=True`). `repo.initial` is the first
    commit: the trusted base the operator names for the first apply (`repo.targets(...)`).
    """
    root = tmp_path / "config"
    shutil.copytree(TEMPLATE, root)
    repo = ConfigRepo(root, prefix)
    (root / "tenants" / "vision").rename(root / "tenants" / repo.vision)
    (root / "tenants" / "nlp").rename(root / "tenants" / repo.nlp)
    repo.edit(f"tenants/{repo.vision}/tenant.yaml", "name: vision", f"name: {repo.vision}")
    repo.edit(f"tenants/{repo.nlp}/tenant.yaml", "name: nlp", f"name: {repo.nlp}")
    repo.edit(f"tenants/{repo.nlp}/tenant.yaml", "namespace: nlp-team", f"namespace: {repo.nlp}")
    repo.edit(f"tenants/{repo.vision}/experiments/detector.yaml", "name: vision/detector", f"name: {repo.experiment}")
    repo.edit(
        f"tenants/{repo.vision}/pipelines/train-detector.yaml",
        "MLFLOW_EXPERIMENT_NAME: vision/detector",
        f"MLFLOW_EXPERIMENT_NAME: {repo.experiment}",
    )
    repo.edit(
        f"tenants/{repo.vision}/promotions/detector-production.yaml", "model: vision-detector", f"model: {repo.model}"
    )
    repo.edit("mlcp.yaml", "controllerNamespace: mlcp-system", f"controllerNamespace: {repo.system_ns}")
    with repo.path("mlcp.yaml").open("a", encoding="utf-8") as config:  # each tenant's folder of the test buckets
        config.write(
            f"artifacts:\n  roots:\n    - 's3://{prefix}-models/{{tenant}}/'\n    - 'gs://{prefix}-models/{{tenant}}/'\n"
        )
    if not approvals:
        repo.edit(
            f"tenants/{repo.vision}/promotions/detector-production.yaml", "requiredApprovals: 1", "requiredApprovals: 0"
        )
        policy = repo.path("policies/access.yaml")
        text = policy.read_text(encoding="utf-8")
        policy.write_text(text[: text.index("  # Promotions to `production` need")], encoding="utf-8")
    if not signed:
        repo.edit("policies/access.yaml", "requireSignedCommits: true", "requireSignedCommits: false")
    repo.initial = repo.commit("initial config")
    return repo
