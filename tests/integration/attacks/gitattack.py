"""What attacks through git need: people with SSH signing keys, their git moves, and the operator's CLI.

Every test repo here requires signed commits (the hardened setup): the
initial commit is re-signed by the admin together with an allowed_signers file
naming everyone's key, so each later commit is attributed to the key that
signed it, and an attacker can only act as themselves. The operator runs the
real CLI with its trust settings in the environment: the first apply names the
initial commit as the trusted base; later ones judge by the last applied
revision, as in production.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kubernetes import client
from typer.testing import CliRunner, Result

from controlplane.cli.app import app
from reconciler import engine
from reconciler.applying import apply_plan, unchecked
from reconciler.backends.base import ApplyOptions, Backend
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_rest import MlflowRest as BackendRest
from tests.integration import configrepo
from tests.integration.mlflow_rest import MlflowError, MlflowRest
from tests.integration.reconcile_support import mlcp

runner = CliRunner()

PEOPLE = {
    "admin": ("Test Admin", "admin@example.com"),  # platform admin
    "alice": ("Alice", "alice@example.com"),  # owner of vision
    "bob": ("Bob", "bob@example.com"),  # member (edit) of vision: may edit its pipelines, not its quota
    "carol": ("Carol", "carol@example.com"),  # owner of nlp, nothing in vision
    "lead": ("ML Lead", "ml-lead@example.com"),  # model approver (group model-approvers), in no tenant
}
PIPELINE = "pipelines/train-detector.yaml"
OLD_IMAGE = "ghcr.io/example/vision-data:1.3.0"
GPU = "requests.nvidia.com/gpu"


@dataclass
class SignedRepo:
    """A test config repo whose commits are SSH-signed by the person making them."""

    repo: configrepo.ConfigRepo
    keys: Path

    @property
    def root(self) -> Path:
        return self.repo.root

    def git(self, *args: str, who: str = "admin", input: str | None = None) -> str:
        name, email = PEOPLE[who]
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={self.keys / who}"]
        done = subprocess.run(
            ["git", *signing, *args], cwd=self.root, env=env, capture_output=True, text=True, check=False, input=input
        )
        assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def commit(self, message: str, who: str) -> str:
        self.git("add", "-A", who=who)
        self.git("commit", "-q", "-S", "-m", message, who=who)
        return self.head()

    def edit(self, rel: str, old: str, new: str) -> None:
        self.repo.edit(rel, old, new)

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def signed_repo(
    tmp_path: Path, prefix: str, extra: dict[str, str] | None = None, approvals: bool = False
) -> SignedRepo:
    """`configrepo.make`, then its initial commit re-signed by the admin with everyone's keys trusted.

    `extra` files (repo-relative path → text) join the initial commit, so the first apply creates them.
    With `approvals`, the template's approval rule and the promotion's one required approval stay.
    """
    repo = configrepo.make(tmp_path, prefix, approvals=approvals)
    keys = tmp_path / "keys"
    keys.mkdir()
    lines = []
    for who, (_, email) in PEOPLE.items():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(keys / who)], check=True)
        lines.append(f'{email} namespaces="git" {(keys / f"{who}.pub").read_text().strip()}')
    signed = SignedRepo(repo, keys)
    signed.write("policies/allowed_signers", "\n".join(lines) + "\n")
    access = repo.path("policies/access.yaml")
    text = re.sub(r"requireSignedCommits: \w+", "requireSignedCommits: true", access.read_text(encoding="utf-8"))
    access.write_text(text, encoding="utf-8")
    for rel, body in (extra or {}).items():
        signed.write(rel, body)
    signed.git("add", "-A")
    signed.git("commit", "-q", "--amend", "--reset-author", "--no-edit", "-S")
    repo.initial = signed.head()
    return signed


@dataclass
class Operator:
    """The operator's `mlcp` against the session's servers, with a per-test controller namespace."""

    repo: SignedRepo
    kubeconfig: Path
    mlflow_uri: str
    tmp: Path
    trusted_base: str | None = None

    @property
    def env(self) -> dict[str, str | None]:
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "MLFLOW_TRACKING_URI": self.mlflow_uri,
            "MLCP_CONTROLLER_NAMESPACE": self.repo.repo.system_ns,
            "MLCP_TRUSTED_BASE": self.trusted_base,
        }

    def cli(self, *args: str) -> Result:
        return runner.invoke(app, list(args), env=self.env)

    def _targets(self) -> list[str]:
        return ["--kubeconfig", str(self.kubeconfig), "--tracking-uri", self.mlflow_uri]

    def apply(self, audit: Path, root: Path | None = None, *flags: str) -> Result:
        """`mlcp apply --yes` of the repo (or `root`), with the operator's `flags` (e.g. `--prune`)."""
        where = str(root or self.repo.root)
        return self.cli("apply", where, "--yes", "--audit-log", str(audit), *flags, *self._targets())

    def plan(self, root: Path | None = None, *flags: str) -> Result:
        """`mlcp plan` of the repo (or `root`), with the operator's `flags` (e.g. `--output json`)."""
        return self.cli("plan", str(root or self.repo.root), *flags, *self._targets())

    def first_apply(self) -> None:
        """Apply the initial commit, trusted by the operator's word; afterwards the applied revision judges."""
        self.trusted_base = self.repo.head()
        result = self.apply(self.tmp / "initial.jsonl")
        assert result.exit_code == 0, explain(result)
        self.trusted_base = None

    def reconcile_once(self, audit: Path) -> tuple[int, str]:
        """One pass of the real `mlcp reconcile` as a process (it installs signal handlers), judged by the
        last applied revision; its exit code and its log."""
        env = {k: v for k, v in self.env.items() if v is not None}
        proc = mlcp(
            "reconcile", "--once", "--repo", str(self.repo.root), "--no-leader-elect", "--audit-log", str(audit),
            *self._targets(), "--workdir", str(self.tmp / "reconcile"),
            env=env,
        )  # fmt: skip
        _, stderr = proc.communicate(timeout=180)
        return proc.returncode, stderr.decode()

    def applied_revision(self, k8s_admin: client.ApiClient) -> str | None:
        """The revision mlcp recorded as applied (the next trusted base), read from its inventory."""
        found = client.CoreV1Api(k8s_admin).read_namespaced_config_map("mlcp-inventory", self.repo.repo.system_ns)
        annotations = (found.metadata.annotations if found.metadata else None) or {}
        return annotations.get("mlcp.dev/applied-revision")

    def records(self, audit: Path, *filters: str) -> list[dict[str, Any]]:
        """Records of the audit log, read back with `mlcp audit list -o json`."""
        listed = self.cli("audit", "list", "-o", "json", "--audit-log", str(audit), *filters)
        assert listed.exit_code == 0, listed.output
        return cast(list[dict[str, Any]], json.loads(listed.stdout))

    def verified(self, audit: Path) -> bool:
        return self.cli("audit", "verify", "--audit-log", str(audit)).exit_code == 0


def operator(
    tmp_path: Path,
    prefix: str,
    kubeconfig: Path,
    mlflow_uri: str,
    extra: dict[str, str] | None = None,
    approvals: bool = False,
) -> Operator:
    """A signed test repo (with `extra` files in its initial commit), applied once."""
    target = Operator(signed_repo(tmp_path, prefix, extra, approvals), kubeconfig, mlflow_uri, tmp_path)
    target.first_apply()
    return target


METRICS = {"val_map": 0.7, "latency_p95_ms": 90.0}
"""Pass the template promotion's gates."""


def version_location(repo: configrepo.ConfigRepo, number: int) -> str:
    """Where `register_model` puts version `number`'s files: under vision's artifact root (configrepo's
    `artifacts.roots`), so mlcp serves it."""
    return f"s3://{repo.prefix}-models/{repo.vision}/{number}/model"


def made_experiment(repo: configrepo.ConfigRepo, rest: MlflowRest, name: str) -> str:
    """The id of experiment `name`, declared in the repo: made and recorded, when it does not exist yet, by an apply
    of the registry part of the repo's first commit alone (promotions of models not registered yet wait). A
    promotion's gates judge only runs of the experiments mlcp records as its tenant's, so a team trains in one
    before it registers; the cluster is left to the test's own apply. mlcp acts as `rest`'s user (an admin under
    basic-auth)."""
    try:
        return str(rest.get("experiments/get-by-name", experiment_name=name)["experiment"]["experiment_id"])
    except MlflowError as exc:
        if exc.status != 404:
            raise
    desired = engine.load_desired(repo.root)
    backends: dict[str, Backend] = {"mlflow": MlflowBackend(BackendRest(rest.uri, rest.auth), repo.system_ns)}
    planned, _ = engine.make_plan(desired, backends, targets=repo.targets(None, rest.uri))
    apply_plan(planned, backends, ApplyOptions(actor="admin@example.com"), authorize=unchecked)
    return str(rest.get("experiments/get-by-name", experiment_name=name)["experiment"]["experiment_id"])


def tenant_experiment(rest: MlflowRest, repo: configrepo.ConfigRepo) -> str:
    """The id of vision's experiment (`repo.experiment`), made by mlcp: its runs are evidence for vision's gates."""
    return made_experiment(repo, rest, repo.experiment)


def register_model(rest: MlflowRest, repo: configrepo.ConfigRepo, versions: int = 2) -> None:
    """vision's model with `versions` vetted-looking versions, from runs of vision's own experiment (a promotion's
    gates judge only its tenant's runs); staging at 1, so the template promotes 1."""
    experiment = tenant_experiment(rest, repo)
    rest.post("registered-models/create", name=repo.model)
    for number in range(1, versions + 1):
        run = rest.post("runs/create", experiment_id=experiment)["run"]["info"]
        for key, value in METRICS.items():
            rest.post("runs/log-metric", run_id=run["run_id"], key=key, value=value, timestamp=0, step=0)
        source = version_location(repo, number)
        rest.post("model-versions/create", name=repo.model, source=source, run_id=run["run_id"])
    rest.post("registered-models/alias", name=repo.model, alias="staging", version="1")


def alias(rest: MlflowRest, model: str, name: str = "production") -> str | None:
    """The version `model@name` points to, or None when it is not set."""
    try:
        found = rest.get("registered-models/alias", name=model, alias=name)
    except MlflowError as exc:  # an alias that is not set: 404, or 400 "alias ... not found" (MLflow 3)
        if exc.status == 404 or (exc.status == 400 and "not found" in str(exc)):
            return None
        raise
    return str(found["model_version"]["version"])


def gpu_quota(k8s_admin: client.ApiClient, namespace: str) -> str:
    quota = client.CoreV1Api(k8s_admin).read_namespaced_resource_quota("compute", namespace)
    assert quota.spec is not None and quota.spec.hard is not None
    return str(quota.spec.hard[GPU])


def step_images(k8s_admin: client.ApiClient, namespace: str, name: str) -> list[str]:
    """Images of a WorkflowTemplate's container steps, or [] when it does not exist."""
    try:
        template = cast(
            dict[str, Any],
            client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
                "argoproj.io", "v1alpha1", namespace, "workflowtemplates", name
            ),
        )
    except client.ApiException as exc:
        if exc.status == 404:
            return []
        raise
    return [str(t["container"]["image"]) for t in template["spec"]["templates"] if t.get("container")]


def explain(result: Result) -> str:
    """The CLI's output, and the traceback when it crashed (CliRunner swallows it)."""
    if result.exc_info is None or isinstance(result.exception, SystemExit):
        return result.output
    return result.output + "".join(traceback.format_exception(*result.exc_info))


def said(result: Result) -> str:
    """The CLI's output (stdout and stderr) on one line, so wrapped messages can be matched."""
    return " ".join(result.output.split())
