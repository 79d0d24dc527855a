"""The MLflow backend against a real MLflow server: experiments, gated promotions, compare-and-set, rollback.

Each test builds a small config repo in git, logs real runs and metrics and
registers real model versions over REST, then drives mlcp through the engine
(plan, then apply) exactly as the CLI does. Names carry the test's prefix.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from controlplane.cli.app import app
from controlplane.plans import Action, Change, Plan
from reconciler import engine
from reconciler.applying import ApplyReport, apply_plan, unchecked
from reconciler.backends.base import ApplyOptions, Backend, Status
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_rest import MlflowRest
from tests.integration.mlflow_rest import MlflowError
from tests.integration.mlflow_rest import MlflowRest as Rest

pytestmark = pytest.mark.integration
ACTOR = "carol@example.com"
POLICY = """
apiVersion: mlcp.dev/v1alpha1
kind: AccessPolicy
metadata: {name: everyone}
spec:
  roles:
    - name: anything
      rules: [{actions: ["*"], kinds: ["*"], tenants: ["*"]}]
  bindings:
    - {role: anything, users: ["*"]}
"""
TENANT = """
apiVersion: mlcp.dev/v1alpha1
kind: Tenant
metadata: {{name: {name}}}
spec:
  owners: [alice@example.com]
"""


def _sh(repo: Path, *argv: str) -> str:
    return subprocess.run(["git", *argv], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class ConfigRepo:
    """A git config repo with one tenant named like the test's prefix, planned and applied against the registry only.

    Tenants own their registry names, so the tenant is named after the prefix:
    its experiments are `<prefix>/…`, its models `<prefix>-…`.

    The server is shared by the whole session, so other tests' experiments and
    models are live (and mlcp-owned) too: plans keep only this test's objects,
    so a --prune here can never delete another test's experiment.
    """

    root: Path
    uri: str
    prefix: str

    @property
    def tenant(self) -> str:
        return self.prefix

    def write(self, rel: str, text: str, message: str | None = None) -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return self.commit(message or f"edit {rel}")

    def remove(self, rel: str) -> str:
        (self.root / rel).unlink()
        return self.commit(f"remove {rel}")

    def commit(self, message: str) -> str:
        _sh(self.root, "add", "-A")
        _sh(self.root, "-c", "user.name=Carol", "-c", f"user.email={ACTOR}", "commit", "-q", "-m", message)
        return _sh(self.root, "rev-parse", "HEAD")

    def targets(self) -> engine.Targets:
        """The operator trusts the repo's first commit (these tests judge the registry, not the policy)."""
        first = _sh(self.root, "rev-list", "--max-parents=0", "HEAD").split()[0]
        return engine.Targets(tracking_uri=self.uri, trusted_base=first)

    def plan(self, prune: bool = False) -> Plan:
        desired = engine.load_desired(self.root)
        backends: dict[str, Backend] = {"mlflow": MlflowBackend(MlflowRest(self.uri))}
        planned, _ = engine.make_plan(desired, backends, prune=prune, targets=self.targets())
        mine = tuple(c for c in planned.changes if c.ref.name.startswith(self.prefix))
        return dataclasses.replace(planned, changes=mine)

    def apply(self, planned: Plan) -> ApplyReport:
        backends = {"mlflow": MlflowBackend(MlflowRest(self.uri))}
        return apply_plan(planned, backends, ApplyOptions(actor=ACTOR), authorize=unchecked)  # type: ignore[dict-item]


@pytest.fixture
def repo(tmp_path: Path, mlflow_uri: str, prefix: str) -> ConfigRepo:
    root = tmp_path / "config"
    root.mkdir()
    _sh(root, "init", "-q", "-b", "main")
    config = ConfigRepo(root, mlflow_uri, prefix)
    (root / "mlcp.yaml").write_text("apiVersion: mlcp.dev/v1alpha1\nkind: Config\n", encoding="utf-8")
    (root / "policies").mkdir()
    (root / "policies" / "access.yaml").write_text(POLICY, encoding="utf-8")
    config.write(f"tenants/{config.tenant}/tenant.yaml", TENANT.format(name=config.tenant), "tenant")
    return config


@pytest.fixture
def rest(mlflow_uri: str) -> Rest:
    return Rest(mlflow_uri)


TRAINING = """
apiVersion: mlcp.dev/v1alpha1
kind: Experiment
metadata: {name: training}
spec: {}
"""


def register(repo: ConfigRepo, rest: Rest, metrics: list[dict[str, float]]) -> str:
    """A registered model `<prefix>-model` whose version i+1 comes from a run that logged metrics[i], in the tenant's
    experiment `<prefix>/training` that mlcp made (a promotion's gates judge only the tenant's own runs)."""
    repo.write(f"tenants/{repo.tenant}/experiments/training.yaml", TRAINING)
    assert [o.status for o in repo.apply(repo.plan()).outcomes] == [Status.applied]
    found = rest.get("experiments/get-by-name", experiment_name=f"{repo.tenant}/training")
    experiment = found["experiment"]["experiment_id"]
    return _versions(rest, experiment, f"{repo.prefix}-model", metrics)


def register_ungoverned(rest: Rest, prefix: str, metrics: list[dict[str, float]]) -> str:
    """A registered model `<prefix>-model` whose version i+1 comes from a run that logged metrics[i], in an
    experiment no tenant declares (`<prefix>-training`): for tests of who holds the model, whose promotions judge
    no gate (a gate would refuse these runs as no tenant's own evidence)."""
    experiment = rest.post("experiments/create", name=f"{prefix}-training")["experiment_id"]
    return _versions(rest, experiment, f"{prefix}-model", metrics)


def _versions(rest: Rest, experiment: str, model: str, metrics: list[dict[str, float]]) -> str:
    """Registered model `model`, its version i+1 from a run of `experiment` that logged metrics[i]."""
    rest.post("registered-models/create", name=model)
    for logged in metrics:
        run = rest.post("runs/create", experiment_id=experiment)["run"]["info"]
        for key, value in logged.items():
            rest.post("runs/log-metric", run_id=run["run_id"], key=key, value=value, timestamp=1, step=0)
        rest.post("model-versions/create", name=model, source=f"{run['artifact_uri']}/model", run_id=run["run_id"])
    return model


def promotion(model: str, version: int, gate: str = "auc", threshold: float = 0.9) -> str:
    return f"""
    apiVersion: mlcp.dev/v1alpha1
    kind: ModelPromotion
    metadata: {{name: prod}}
    spec:
      model: {model}
      alias: production
      version: {version}
      gates:
        - {{metric: {gate}, comparison: ">=", threshold: {threshold}}}
    """


def alias_version(rest: Rest, model: str, alias: str = "production") -> str | None:
    try:
        return str(rest.get("registered-models/alias", name=model, alias=alias)["model_version"]["version"])
    except MlflowError:
        return None


def statuses(report: ApplyReport) -> list[Status]:
    for outcome in report.outcomes:
        print(f"{outcome.change.ref}: {outcome.status} {outcome.message} {outcome.change.blocked or ''}")
    return [o.status for o in report.outcomes]


def only(plan: Plan, kind: str) -> Change:
    found = [c for c in plan.changes if c.ref.system == "mlflow" and c.ref.kind == kind]
    assert len(found) == 1, found
    return found[0]


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in item.get("tags") or []}


def test_passing_gate_moves_the_alias_and_records_who_when_and_which_commit(
    repo: ConfigRepo, rest: Rest, prefix: str
) -> None:
    model = register(repo, rest, [{"auc": 0.80}, {"auc": 0.95}])
    rest.post("registered-models/alias", name=model, alias="production", version="1")
    commit = repo.write(f"tenants/{repo.tenant}/promotions/prod.yaml", promotion(model, 2))

    change = only(repo.plan(), "ModelAlias")
    assert (change.action, change.blocked, change.live_version) == (Action.update, None, "1")
    assert change.reason == f"moves {model}@production from version 1 to version 2"
    assert change.desired is not None and change.desired["gates"][0]["measured"] == 0.95
    report = repo.apply(repo.plan())
    assert [o.status for o in report.outcomes] == [Status.applied], report.outcomes

    assert alias_version(rest, model) == "2"
    version_tags = tags_of(rest.get("model-versions/get", name=model, version="2")["model_version"])
    assert version_tags["mlcp.dev/promoted.production.by"] == ACTOR
    assert version_tags["mlcp.dev/promoted.production.commit"] == commit
    assert version_tags["mlcp.dev/promoted.production.previous-version"] == "1"
    assert version_tags["mlcp.dev/promoted.production.at"].startswith("20")
    model_tags = tags_of(rest.get("registered-models/get", name=model)["registered_model"])
    assert model_tags["mlcp.dev/alias.production.version"] == "2"
    assert model_tags["mlcp.dev/alias.production.by"] == ACTOR
    assert only(repo.plan(), "ModelAlias").action is Action.noop


def test_failing_gate_blocks_with_the_measured_value_and_changes_nothing(
    repo: ConfigRepo, rest: Rest, prefix: str
) -> None:
    model = register(repo, rest, [{"auc": 0.85}])
    repo.write(f"tenants/{repo.tenant}/promotions/prod.yaml", promotion(model, 1))
    planned = repo.plan()
    change = only(planned, "ModelAlias")
    assert change.action is Action.create
    assert change.blocked == "gate auc >= 0.9 failed: measured 0.85"
    report = repo.apply(planned)
    assert [o.status for o in report.outcomes] == [Status.skipped]
    assert alias_version(rest, model) is None


def test_missing_metric_blocks(repo: ConfigRepo, rest: Rest, prefix: str) -> None:
    model = register(repo, rest, [{"loss": 0.1}])
    repo.write(f"tenants/{repo.tenant}/promotions/prod.yaml", promotion(model, 1))
    change = only(repo.plan(), "ModelAlias")
    assert change.blocked == "gate auc >= 0.9: metric 'auc' was not logged on the source run"


def test_alias_moved_by_hand_after_the_plan_is_refused(repo: ConfigRepo, rest: Rest, prefix: str) -> None:
    model = register(repo, rest, [{"auc": 0.95}, {"auc": 0.95}, {"auc": 0.5}])
    rest.post("registered-models/alias", name=model, alias="production", version="1")
    repo.write(f"tenants/{repo.tenant}/promotions/prod.yaml", promotion(model, 2))
    planned = repo.plan()
    rest.post("registered-models/alias", name=model, alias="production", version="3")

    report = repo.apply(planned)
    [outcome] = report.outcomes
    assert outcome.status is Status.failed
    assert "compare-and-set refused" in outcome.message and "at 3 now" in outcome.message
    assert alias_version(rest, model) == "3"


def test_git_revert_of_a_promotion_moves_the_alias_back(repo: ConfigRepo, rest: Rest, prefix: str) -> None:
    model = register(repo, rest, [{"auc": 0.91}, {"auc": 0.96}])
    repo.write(f"tenants/{repo.tenant}/promotions/prod.yaml", promotion(model, 1))
    assert statuses(repo.apply(repo.plan())) == [Status.applied]
    second = repo.write(f"tenants/{repo.tenant}/promotions/prod.yaml", promotion(model, 2))
    assert statuses(repo.apply(repo.plan())) == [Status.applied]
    assert alias_version(rest, model) == "2"

    _sh(repo.root, "-c", "user.name=Carol", "-c", f"user.email={ACTOR}", "revert", "--no-edit", second)
    change = only(repo.plan(), "ModelAlias")
    assert (change.action, change.live_version, change.blocked) == (Action.update, "2", None)
    assert change.reason == f"moves {model}@production from version 2 to version 1"
    assert statuses(repo.apply(repo.plan())) == [Status.applied]
    assert alias_version(rest, model) == "1"
    model_tags = tags_of(rest.get("registered-models/get", name=model)["registered_model"])
    assert model_tags["mlcp.dev/alias.production.previous-version"] == "2"


def test_removed_promotion_removes_the_alias_only_with_prune(repo: ConfigRepo, rest: Rest, prefix: str) -> None:
    model = register(repo, rest, [{"auc": 0.95}])
    rest.post("registered-models/alias", name=model, alias="staging", version="1")  # not mlcp's: never touched
    repo.write(f"tenants/{repo.tenant}/promotions/prod.yaml", promotion(model, 1))
    repo.apply(repo.plan())
    repo.remove(f"tenants/{repo.tenant}/promotions/prod.yaml")

    kept = only(repo.plan(), "ModelAlias")
    assert kept.action is Action.delete and kept.blocked and "--prune" in kept.blocked
    assert statuses(repo.apply(repo.plan(prune=True))) == [Status.deleted]
    assert alias_version(rest, model) is None
    assert alias_version(rest, model, "staging") == "1"
    assert not [c for c in repo.plan(prune=True).changes if c.ref.kind == "ModelAlias"]


def experiment(prefix: str, tags: dict[str, str], description: str) -> str:
    return f"""
    apiVersion: mlcp.dev/v1alpha1
    kind: Experiment
    metadata: {{name: churn}}
    spec:
      tracking:
        name: {prefix}/churn
        description: {description}
        tags: {json.dumps(tags)}
    """


def test_experiment_created_then_retagged_in_place(repo: ConfigRepo, rest: Rest, prefix: str) -> None:
    repo.write(
        f"tenants/{repo.tenant}/experiments/churn.yaml", experiment(prefix, {"team": "a", "stage": "dev"}, "first")
    )
    assert only(repo.plan(), "Experiment").action is Action.create
    assert statuses(repo.apply(repo.plan())) == [Status.applied]
    created = rest.get("experiments/get-by-name", experiment_name=f"{prefix}/churn")["experiment"]
    tags = tags_of(created)
    assert (tags["team"], tags["stage"], tags["mlflow.note.content"]) == ("a", "dev", "first")
    assert tags["mlcp.dev/managed-by"] == "mlcp" and tags["mlcp.dev/tenant"] == repo.tenant
    assert tags["mlcp.dev/owners"] == "alice@example.com"

    repo.write(f"tenants/{repo.tenant}/experiments/churn.yaml", experiment(prefix, {"team": "b"}, "second"))
    change = only(repo.plan(), "Experiment")
    assert change.action is Action.update
    assert {d.dotted for d in change.diffs} >= {"tags.team", "description"}
    assert statuses(repo.apply(repo.plan())) == [Status.applied]
    updated = rest.get("experiments/get-by-name", experiment_name=f"{prefix}/churn")["experiment"]
    assert updated["experiment_id"] == created["experiment_id"]
    tags = tags_of(updated)
    assert (tags["team"], tags["mlflow.note.content"]) == ("b", "second")
    assert "stage" not in tags
    assert only(repo.plan(), "Experiment").action is Action.noop


def test_experiment_deleted_by_hand_is_restored(repo: ConfigRepo, rest: Rest, prefix: str) -> None:
    repo.write(f"tenants/{repo.tenant}/experiments/churn.yaml", experiment(prefix, {"team": "a"}, "d"))
    repo.apply(repo.plan())
    found = rest.get("experiments/get-by-name", experiment_name=f"{prefix}/churn")["experiment"]
    rest.post("experiments/delete", experiment_id=found["experiment_id"])

    change = only(repo.plan(), "Experiment")
    assert change.action is Action.update and [d.dotted for d in change.diffs] == ["lifecycleStage"]
    [outcome] = repo.apply(repo.plan()).outcomes
    assert outcome.status is Status.applied and "restored" in outcome.message
    again = rest.get("experiments/get-by-name", experiment_name=f"{prefix}/churn")["experiment"]
    assert (again["experiment_id"], again["lifecycle_stage"]) == (found["experiment_id"], "active")


def test_prune_soft_deletes_only_experiments_mlcp_created(repo: ConfigRepo, rest: Rest, prefix: str) -> None:
    repo.write(f"tenants/{repo.tenant}/experiments/churn.yaml", experiment(prefix, {"team": "a"}, "d"))
    repo.apply(repo.plan())
    rest.post("experiments/create", name=f"{prefix}/by-hand")
    repo.remove(f"tenants/{repo.tenant}/experiments/churn.yaml")

    assert only(repo.plan(), "Experiment").blocked
    deletes = [c for c in repo.plan(prune=True).changes if c.action is Action.delete]
    assert [c.ref.name for c in deletes] == [f"{prefix}/churn"]
    assert statuses(repo.apply(repo.plan(prune=True))) == [Status.deleted]
    gone = rest.get("experiments/get-by-name", experiment_name=f"{prefix}/churn")["experiment"]
    assert gone["lifecycle_stage"] == "deleted"
    by_hand = rest.get("experiments/get-by-name", experiment_name=f"{prefix}/by-hand")["experiment"]
    assert by_hand["lifecycle_stage"] == "active"


def _copy_template(target: Path) -> Path:
    """The template as a fresh git repo, committed (mlcp judges changes by their commits)."""
    template = Path(__file__).resolve().parents[2] / "repo_template"
    subprocess.run(["cp", "-r", str(template), str(target)], check=True)
    _sh(target, "init", "-q", "-b", "main")
    _sh(target, "add", "-A")
    _sh(target, "-c", "user.name=Admin", "-c", "user.email=admin@example.com", "commit", "-q", "-m", "template")
    return target


def test_plan_json_on_the_template_lists_cluster_and_registry_changes(
    tmp_path: Path, kubeconfig: Path, mlflow_uri: str
) -> None:
    root = _copy_template(tmp_path / "repo")
    result = CliRunner().invoke(
        app,
        [
            "plan",
            str(root),
            "--kubeconfig",
            str(kubeconfig),
            "--tracking-uri",
            mlflow_uri,
            "--trusted-base",
            "HEAD",
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    systems = {c["ref"]["system"] for c in plan["changes"]}
    assert systems == {"kubernetes", "mlflow", "governance"}
    kinds = {(c["ref"]["system"], c["ref"]["kind"]) for c in plan["changes"]}
    assert {("mlflow", "Experiment"), ("mlflow", "ModelAlias"), ("kubernetes", "InferenceService")} <= kinds
    assert all(s["reachable"] for s in plan["systems"])


def test_unreachable_registry_is_unknown_and_the_cluster_still_plans(tmp_path: Path, kubeconfig: Path) -> None:
    root = _copy_template(tmp_path / "repo")
    dead = "http://127.0.0.1:9"
    result = CliRunner().invoke(
        app,
        [
            "plan",
            str(root),
            "--kubeconfig",
            str(kubeconfig),
            "--tracking-uri",
            dead,
            "--trusted-base",
            "HEAD",
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 1, result.output
    plan = json.loads(result.stdout)
    registry = next(s for s in plan["systems"] if s["system"] == "mlflow")
    assert (registry["reachable"], registry["target"]) == (False, dead)
    assert dead in registry["error"]
    assert {c["ref"]["system"] for c in plan["changes"]} == {"kubernetes", "governance"}
