"""Carol, owner of tenant nlp, goes after tenant vision's MLflow objects from her own folder.

MLflow names are server-wide, so without ownership of names a spec in nlp's
folder could promote vision's registered model (moving vision's production
alias to a version vision never vetted, and serving it) or declare vision's
experiment (retagging it). The AccessPolicy would judge either as an nlp
change, which Carol may make. Everything goes through the real CLI and real
servers: `mlcp validate` and `mlcp apply` refuse, the registry and the cluster
are untouched, and `mlcp reconcile --once` sets nlp aside (auditing why) while
vision still converges.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, cast

import git
import pytest
from kubernetes import client
from typer.testing import CliRunner, Result

from controlplane.audit import JsonlStore
from controlplane.audit.records import Verdict
from controlplane.cli.app import app
from tests.integration import configrepo
from tests.integration.attacks import gitattack
from tests.integration.mlflow_rest import MlflowRest
from tests.integration.reconcile_support import mlcp

pytestmark = pytest.mark.integration
runner = CliRunner()

CAROL = git.Actor("Carol", "carol@example.com")  # owner of nlp
ALICE = git.Actor("Alice", "alice@example.com")  # owner of vision
INVENTORY = "mlcp-inventory"
PIPELINE = "pipelines/train-detector.yaml"
OLD_IMAGE = "ghcr.io/example/vision-data:1.3.0"
NEW_IMAGE = "ghcr.io/example/vision-data:1.4.0"


class Cluster:
    """The CLI's targets for one test repo (flags for the servers, env for the trust settings)."""

    def __init__(self, repo: configrepo.ConfigRepo, kubeconfig: Path, mlflow_uri: str, tmp: Path) -> None:
        self.repo, self.kubeconfig, self.mlflow_uri, self.tmp = repo, kubeconfig, mlflow_uri, tmp
        self.env = {
            "KUBECONFIG": str(kubeconfig),
            "MLFLOW_TRACKING_URI": mlflow_uri,
            "MLCP_TRUSTED_BASE": repo.initial,  # the initial commit: its policy judges the first apply
            "MLCP_CONTROLLER_NAMESPACE": repo.system_ns,
        }

    def cli(self, *args: str) -> Result:
        return runner.invoke(app, list(args), env=self.env)

    def validate(self) -> Result:
        return self.cli("validate", str(self.repo.root))

    def apply(self, audit: str) -> Result:
        return self.cli(
            "apply", str(self.repo.root), "--yes", "--audit-log", str(self.tmp / audit),
            "--kubeconfig", str(self.kubeconfig), "--tracking-uri", self.mlflow_uri,
        )  # fmt: skip

    def reconcile_once(self, audit: Path) -> tuple[int, str]:
        proc = mlcp(
            "reconcile", "--once", "--repo", str(self.repo.root), "--no-leader-elect", "--audit-log", str(audit),
            "--kubeconfig", str(self.kubeconfig), "--tracking-uri", self.mlflow_uri,
            "--workdir", str(self.tmp / "reconcile"),
            env=self.env,
        )  # fmt: skip
        _, stderr = proc.communicate(timeout=180)
        return proc.returncode, stderr.decode()


def production(rest: MlflowRest, model: str) -> str:
    return str(rest.get("registered-models/alias", name=model, alias="production")["model_version"]["version"])


def experiment_state(rest: MlflowRest, name: str) -> tuple[str, dict[str, str]]:
    found = rest.get("experiments/get-by-name", experiment_name=name)["experiment"]
    return str(found["experiment_id"]), {t["key"]: t["value"] for t in found.get("tags") or []}


def inference_services(k8s_admin: client.ApiClient, namespace: str) -> list[str]:
    found = cast(
        dict[str, Any],
        client.CustomObjectsApi(k8s_admin).list_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices"
        ),
    )
    return sorted(item["metadata"]["name"] for item in found["items"])


def inventory_version(k8s_admin: client.ApiClient, namespace: str) -> str:
    metadata = client.CoreV1Api(k8s_admin).read_namespaced_config_map(INVENTORY, namespace).metadata
    assert metadata is not None
    return str(metadata.resource_version)


def image(k8s_admin: client.ApiClient, namespace: str) -> str:
    template = cast(
        dict[str, Any],
        client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
            "argoproj.io", "v1alpha1", namespace, "workflowtemplates", "train-detector"
        ),
    )
    return str(template["spec"]["templates"][1]["container"]["image"])


def write(repo: configrepo.ConfigRepo, rel: str, text: str) -> Path:
    path = repo.path(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def carol_goes_after_vision(repo: configrepo.ConfigRepo) -> tuple[str, str]:
    """Carol's commit in nlp's own folders; `file:line` of the promotion's model and the experiment's name."""
    promotion = write(
        repo,
        f"tenants/{repo.nlp}/promotions/hijack.yaml",
        f"""
        apiVersion: mlcp.dev/v1alpha1
        kind: ModelPromotion
        metadata:
          name: hijack
        spec:
          model: {repo.model}
          alias: production
          version: 2
          serving:
            minReplicas: 1
        """,
    )
    experiment = write(
        repo,
        f"tenants/{repo.nlp}/experiments/hijack.yaml",
        f"""
        apiVersion: mlcp.dev/v1alpha1
        kind: Experiment
        metadata:
          name: hijack
        spec:
          tracking:
            name: {repo.experiment}
            description: nlp's now
            tags:
              team: nlp
        """,
    )
    repo.commit("nlp: reuse the detector", author=CAROL)
    rel = f"tenants/{repo.nlp}"
    return (
        f"{rel}/promotions/hijack.yaml:{line_of(promotion, 'model:')}:10",
        f"{rel}/experiments/hijack.yaml:{line_of(experiment, 'name: ' + repo.experiment)}:11",
    )


@pytest.fixture
def cluster(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str) -> Cluster:
    repo = configrepo.make(tmp_path, prefix)
    gitattack.register_model(MlflowRest(mlflow_uri), repo)
    target = Cluster(repo, kubeconfig, mlflow_uri, tmp_path)
    applied = target.apply("initial.jsonl")
    assert applied.exit_code == 0, applied.output
    return target


def test_another_tenants_model_and_experiment_are_refused_offline_and_never_reach_the_registry(
    cluster: Cluster, k8s_admin: client.ApiClient
) -> None:
    repo, rest = cluster.repo, MlflowRest(cluster.mlflow_uri)
    assert production(rest, repo.model) == "1"
    experiment_before = experiment_state(rest, repo.experiment)
    assert experiment_before[1]["team"] == "vision"
    inventory_before = inventory_version(k8s_admin, repo.system_ns)
    model_at, experiment_at = carol_goes_after_vision(repo)

    checked = cluster.validate()
    said = " ".join(checked.output.split())
    assert checked.exit_code == 1, checked.output
    assert f"{model_at}: error: registered model '{repo.model}' belongs to tenant '{repo.vision}'" in said
    assert "followed by -, _ or ." in said and f"name it {repo.nlp}-<something>" in said
    assert f"{experiment_at}: error: MLflow experiment '{repo.experiment}' belongs to tenant '{repo.vision}'" in said
    assert "before the first `/`" in said and f"name it {repo.nlp}/<something>" in said
    assert f"tenants/{repo.vision}/" not in said, "vision's own specs must not be blamed for nlp's claims"

    applied = cluster.apply("attack.jsonl")
    assert applied.exit_code == 1, applied.output
    assert model_at in applied.output and experiment_at in applied.output
    assert production(rest, repo.model) == "1", "vision's production alias did not move"
    assert experiment_state(rest, repo.experiment) == experiment_before, "vision's experiment was not retagged"
    assert inference_services(k8s_admin, repo.nlp) == [], "nothing serves vision's model from nlp"
    assert inventory_version(k8s_admin, repo.system_ns) == inventory_before, "nothing was written to the cluster"


def test_the_loop_sets_nlp_aside_with_a_denied_audit_record_and_vision_still_converges(
    cluster: Cluster, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    repo, rest = cluster.repo, MlflowRest(cluster.mlflow_uri)
    experiment_before = experiment_state(rest, repo.experiment)
    carol_goes_after_vision(repo)
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", OLD_IMAGE, NEW_IMAGE)
    repo.commit("vision: new data image", author=ALICE)

    audit = tmp_path / "loop.jsonl"
    code, log = cluster.reconcile_once(audit)
    assert code == 1, log[-3000:]  # not everything converged: nlp was set aside
    assert image(k8s_admin, repo.vision) == NEW_IMAGE, "vision converged despite nlp's broken specs"
    assert production(rest, repo.model) == "1" and experiment_state(rest, repo.experiment) == experiment_before
    assert inference_services(k8s_admin, repo.nlp) == []
    records = list(JsonlStore(audit).records())
    vision_writes = [r for r in records if r.tenant == repo.vision and r.target.get("kind") == "WorkflowTemplate"]
    assert vision_writes and vision_writes[0].decision is Verdict.allow
    assert [r for r in records if r.tenant == repo.nlp and r.decision is Verdict.deny], (
        "the loop audits the tenant it set aside for invalid specs"
    )
    assert JsonlStore(audit).verify().ok
