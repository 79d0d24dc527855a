"""Serving follows the promotion, against the real MLflow server and the API server with KServe's full CRD.

The model versions are registered with `s3://` and `gs://` sources (MLflow
records them without the buckets existing); the InferenceService must name
the location of the version the alias is moved to, change with it in the same
apply, follow a `git revert` back, and refuse a location KServe cannot load.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

from controlplane.plans import Action, Change, Plan
from devenv import testing
from reconciler import connecting, engine
from reconciler.applying import ApplyReport, apply_plan, unchecked
from reconciler.backends.base import ApplyOptions, Status
from tests.integration import configrepo
from tests.integration.mlflow_rest import MlflowRest

pytestmark = pytest.mark.integration
SERVICE = "detector-production"


TRAINING = """apiVersion: mlcp.dev/v1alpha1
kind: Experiment
metadata:
  name: training
spec:
  tracking:
    artifactLocation: ROOT
"""
"""vision's tracking-only experiment, under its artifact root: its runs are the evidence vision's gates judge."""


@pytest.fixture
def repo(tmp_path: Path, prefix: str) -> configrepo.ConfigRepo:
    repo = configrepo.make(tmp_path, prefix)
    for tenant in (repo.vision, repo.nlp):  # keep the test to its model, its serving and its training runs
        shutil.rmtree(repo.path(f"tenants/{tenant}/experiments"))
        shutil.rmtree(repo.path(f"tenants/{tenant}/training"), ignore_errors=True)  # its jobs log to experiments
    root = f"s3://{prefix}-models/{repo.vision}/training"
    training = repo.path(f"tenants/{repo.vision}/experiments/training.yaml")
    training.parent.mkdir()
    training.write_text(TRAINING.replace("ROOT", root), encoding="utf-8")
    repo.commit("only the promotion, and the experiment of its runs")
    return repo


def _training(rest: MlflowRest, repo: configrepo.ConfigRepo, kubeconfig: Path, mlflow_uri: str) -> str:
    """The id of vision's experiment `<vision>/training`, made by an apply of the repo (whose promotion waits for
    its model): a promotion's gates judge only runs of the experiments mlcp records as its tenant's."""
    planned, backends = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    _apply(planned, backends)
    found = rest.get("experiments/get-by-name", experiment_name=f"{repo.vision}/training")["experiment"]
    return str(found["experiment_id"])


def _register(
    rest: MlflowRest, repo: configrepo.ConfigRepo, sources: list[str | None], kubeconfig: Path, mlflow_uri: str
) -> None:
    """Versions 1..n of the repo's model, from runs of vision's experiment that pass the template's gates, at the
    given sources (None: in the run's own artifact location)."""
    experiment = _training(rest, repo, kubeconfig, mlflow_uri)
    rest.post("registered-models/create", name=repo.model)
    for source in sources:
        run = rest.post("runs/create", experiment_id=experiment)["run"]["info"]
        for key, value in {"val_map": 0.7, "latency_p95_ms": 90.0}.items():
            rest.post("runs/log-metric", run_id=run["run_id"], key=key, value=value, timestamp=0, step=0)
        located = source or f"{run['artifact_uri']}/model"
        rest.post("model-versions/create", name=repo.model, source=located, run_id=run["run_id"])


def _pin(repo: configrepo.ConfigRepo, version: int) -> str:
    """Promote a fixed version instead of whatever `staging` points to."""
    path = repo.path(f"tenants/{repo.vision}/promotions/{SERVICE}.yaml")
    lines = [line for line in path.read_text().splitlines() if not line.strip().startswith(("fromAlias:", "version:"))]
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("alias:"))
    lines.insert(at + 1, f"  version: {version}")
    path.write_text("\n".join(lines) + "\n")
    return repo.commit(f"promote version {version}")


def _plan(repo: configrepo.ConfigRepo, kubeconfig: Path, mlflow_uri: str, trusted: bool) -> tuple[Plan, Any]:
    desired = engine.load_desired(repo.root)
    targets = repo.targets(kubeconfig, mlflow_uri, trusted=trusted)
    backends = connecting.connect(desired.repo, targets)
    planned, _ = engine.make_plan(desired, backends, targets=targets)
    return planned, backends


def _ours(planned: Plan, repo: configrepo.ConfigRepo) -> dict[str, Change]:
    """This test's alias and InferenceService changes (the session's MLflow also holds other tests' aliases)."""
    found = {c.ref.kind: c for c in planned.changes if c.ref.kind in {"ModelAlias", "InferenceService"}}
    return {k: c for k, c in found.items() if c.ref.name.startswith(repo.model) or c.ref.namespace == repo.vision}


def _apply(planned: Plan, backends: Any) -> ApplyReport:
    report = apply_plan(planned, backends, ApplyOptions(actor="admin@example.com"), authorize=unchecked)
    assert not report.failed, [(str(o.change.ref), o.message) for o in report.failed]
    return report


def _served(devenv: testing.TestTarget, repo: configrepo.ConfigRepo) -> dict[str, Any]:
    custom = client.CustomObjectsApi(devenv.admin_client())
    found = cast(
        dict[str, Any],
        custom.get_namespaced_custom_object("serving.kserve.io", "v1beta1", repo.vision, "inferenceservices", SERVICE),
    )
    return dict(found["spec"]["predictor"])


def _alias(rest: MlflowRest, model: str) -> str:
    return str(rest.get("registered-models/alias", name=model, alias="production")["model_version"]["version"])


def test_serving_follows_the_alias_through_a_move_and_its_revert(
    repo: configrepo.ConfigRepo, kubeconfig: Path, mlflow_uri: str, devenv: testing.TestTarget, prefix: str
) -> None:
    rest = MlflowRest(mlflow_uri)
    s3, gs = (
        f"s3://{prefix}-models/{repo.vision}/detector/1/model",
        f"gs://{prefix}-models/{repo.vision}/detector/2/model",
    )
    _register(rest, repo, [s3, gs], kubeconfig, mlflow_uri)
    rest.post("registered-models/alias", name=repo.model, alias="staging", version="1")

    first, backends = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    ours = _ours(first, repo)
    assert ours["InferenceService"].desired is not None
    assert ours["InferenceService"].desired["spec"]["predictor"]["model"]["storageUri"] == s3, "shown in the plan"
    assert [c.blocked for c in ours.values()] == [None, None]
    _apply(first, backends)
    assert _alias(rest, repo.model) == "1"
    assert _served(devenv, repo)["model"]["storageUri"] == s3

    promote = _pin(repo, 2)
    moved, backends = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    ours = _ours(moved, repo)
    assert (ours["ModelAlias"].action, ours["InferenceService"].action) == (Action.update, Action.update)
    assert ("storageUri", s3, gs) in [(d.path[-1], d.old, d.new) for d in ours["InferenceService"].diffs]
    report = _apply(moved, backends)
    applied = {o.change.ref.kind for o in report.outcomes if o.status is Status.applied}
    assert {"ModelAlias", "InferenceService"} <= applied, "one apply moves the alias and the serving"
    assert (_alias(rest, repo.model), _served(devenv, repo)["model"]["storageUri"]) == ("2", gs)

    repo.git.git.revert("--no-commit", promote)
    repo.commit("Revert: promote version 2")
    back, backends = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    ours = _ours(back, repo)
    assert [c.blocked for c in ours.values()] == [None, None]
    assert ("storageUri", gs, s3) in [(d.path[-1], d.old, d.new) for d in ours["InferenceService"].diffs]
    assert ours["ModelAlias"].reason == f"moves {repo.model}@production from version 2 to version 1"
    _apply(back, backends)
    assert (_alias(rest, repo.model), _served(devenv, repo)["model"]["storageUri"]) == ("1", s3)
    again, _ = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    assert [c.action for c in _ours(again, repo).values()] == [Action.noop, Action.noop]


def test_versions_mlflow_3_registers_by_reference_serve_the_files_mlflow_keeps(
    repo: configrepo.ConfigRepo, kubeconfig: Path, mlflow_uri: str, devenv: testing.TestTarget, prefix: str
) -> None:
    """MLflow 3's `log_model(..., registered_model_name=...)` registers `models:/<model id>` (a LoggedModel, its
    files under the experiment's `models/` folder) and an older client's `register_model("runs:/...")` keeps
    `runs:/<run>/model`: both were refused as unloadable, so no model registered the usual way was ever served.
    The server's own answer (the version's storage location, the run's artifact location) is what KServe loads."""
    rest = MlflowRest(mlflow_uri)
    root = f"s3://{prefix}-models/{repo.vision}/training"
    experiment = _training(rest, repo, kubeconfig, mlflow_uri)
    rest.post("registered-models/create", name=repo.model)
    run = rest.post("runs/create", experiment_id=experiment)["run"]["info"]
    for key, value in {"val_map": 0.7, "latency_p95_ms": 90.0}.items():
        rest.post("runs/log-metric", run_id=run["run_id"], key=key, value=value, timestamp=0, step=0)
    logged = rest.post("logged-models", experiment_id=experiment, name="model", source_run_id=run["run_id"])
    model_id = logged["model"]["info"]["model_id"]
    rest.post(
        "model-versions/create", name=repo.model, source=f"models:/{model_id}", run_id=run["run_id"], model_id=model_id
    )
    rest.post("model-versions/create", name=repo.model, source=f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    rest.post("registered-models/alias", name=repo.model, alias="staging", version="1")
    files = logged["model"]["info"]["artifact_uri"]
    assert files.startswith(f"{root}/") and model_id in files, files

    first, backends = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    assert [c.blocked for c in _ours(first, repo).values()] == [None, None]
    _apply(first, backends)
    assert (_alias(rest, repo.model), _served(devenv, repo)["model"]["storageUri"]) == ("1", files)

    _pin(repo, 2)
    moved, backends = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    assert [c.blocked for c in _ours(moved, repo).values()] == [None, None]
    _apply(moved, backends)
    in_run = f"{run['artifact_uri'].rstrip('/')}/model"
    assert in_run.startswith(f"{root}/")
    assert (_alias(rest, repo.model), _served(devenv, repo)["model"]["storageUri"]) == ("2", in_run)


def test_a_version_kserve_cannot_load_blocks_the_move_and_the_serving_naming_the_fix(
    repo: configrepo.ConfigRepo, kubeconfig: Path, mlflow_uri: str, devenv: testing.TestTarget, prefix: str
) -> None:
    rest = MlflowRest(mlflow_uri)
    training = f"tenants/{repo.vision}/experiments/training.yaml"
    repo.edit(training, f"artifactLocation: s3://{prefix}-models/{repo.vision}/training", "description: own store")
    repo.commit("vision's runs in the tracking server's own store")
    one = f"s3://{prefix}-models/{repo.vision}/detector/1/model"
    _register(rest, repo, [one, None], kubeconfig, mlflow_uri)  # 2: in the run's own location, the server's store
    local = rest.get("model-versions/get", name=repo.model, version="2")["model_version"]["source"]
    assert not local.startswith(("s3://", "gs://")), local
    rest.post("registered-models/alias", name=repo.model, alias="staging", version="1")
    first, backends = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    _apply(first, backends)

    _pin(repo, 2)
    repo.edit(f"tenants/{repo.vision}/promotions/{SERVICE}.yaml", "maxReplicas: 3", "maxReplicas: 4")
    repo.commit("serve version 2 on up to 4 replicas")
    planned, backends = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    ours = _ours(planned, repo)
    assert (ours["ModelAlias"].action, ours["InferenceService"].action) == (Action.update, Action.update)
    for change in ours.values():  # the unloadable version blocks the move and all of its serving change
        assert change.blocked is not None
        assert f"version 2 of '{repo.model}' cannot be served" in change.blocked
        assert repr(local) in change.blocked and "artifact root" in change.blocked
    report = apply_plan(planned, backends, ApplyOptions(), authorize=unchecked)
    assert {o.status for o in report.outcomes if o.change in ours.values()} == {Status.skipped}
    served = _served(devenv, repo)["model"]["storageUri"]
    assert (_alias(rest, repo.model), served) == ("1", f"s3://{prefix}-models/{repo.vision}/detector/1/model"), (
        "nothing moved"
    )
    assert _served(devenv, repo)["maxReplicas"] == 3


def test_a_pinned_location_that_is_not_the_versions_moves_nothing_and_serves_nothing(
    repo: configrepo.ConfigRepo, kubeconfig: Path, mlflow_uri: str, devenv: testing.TestTarget, prefix: str
) -> None:
    """A committer names another tenant's artifacts as `serving.storageUri`: it was served as written, whatever
    the alias move's checks (the model the tenant's own, quarantine) said. Now it is a pin the registry must
    confirm, and a pin elsewhere blocks the move and the serving together."""
    rest = MlflowRest(mlflow_uri)
    own = f"s3://{prefix}-models/{repo.vision}/detector/1/model"
    _register(rest, repo, [own], kubeconfig, mlflow_uri)
    rest.post("registered-models/alias", name=repo.model, alias="staging", version="1")
    promotion = f"tenants/{repo.vision}/promotions/{SERVICE}.yaml"
    elsewhere = f"s3://{prefix}-nlp-team-artifacts/secret-model"
    repo.edit(promotion, "    modelFormat: mlflow\n", f"    modelFormat: mlflow\n    storageUri: {elsewhere}\n")
    repo.commit("serve the other team's model")
    planned, backends = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    ours = _ours(planned, repo)
    for change in ours.values():
        assert change.blocked is not None and f"serving.storageUri {elsewhere!r} is not where version 1" in (
            change.blocked
        )
    report = apply_plan(planned, backends, ApplyOptions(), authorize=unchecked)
    assert {o.status for o in report.outcomes if o.change in ours.values()} == {Status.skipped}
    custom = client.CustomObjectsApi(devenv.admin_client())
    with pytest.raises(client.ApiException) as missing:
        custom.get_namespaced_custom_object("serving.kserve.io", "v1beta1", repo.vision, "inferenceservices", SERVICE)
    assert missing.value.status == 404, "nothing served"

    repo.edit(promotion, f"storageUri: {elsewhere}", f"storageUri: {own}")
    repo.commit("pin the version's own location")
    pinned, backends = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    assert [c.blocked for c in _ours(pinned, repo).values()] == [None, None]
    _apply(pinned, backends)
    assert (_alias(rest, repo.model), _served(devenv, repo)["model"]["storageUri"]) == ("1", own)


def test_a_predictor_asking_for_more_than_the_limit_range_default_gets_a_pod(
    repo: configrepo.ConfigRepo, kubeconfig: Path, mlflow_uri: str, devenv: testing.TestTarget, prefix: str
) -> None:
    """Only requests were rendered, so the tenant's LimitRange default (cpu 1) filled the limit below a request of
    2 and the API server refused every predictor pod. The devenv runs no KServe controller: the predictor pod it
    would create from the applied InferenceService's resources is created here (a dry run) in the namespace."""
    rest = MlflowRest(mlflow_uri)
    _register(rest, repo, [f"s3://{prefix}-models/{repo.vision}/detector/1/model"], kubeconfig, mlflow_uri)
    rest.post("registered-models/alias", name=repo.model, alias="staging", version="1")
    promotion = f"tenants/{repo.vision}/promotions/{SERVICE}.yaml"
    repo.edit(promotion, "    maxReplicas: 3\n", "    maxReplicas: 3\n    resources: {cpu: '2', memory: 2Gi}\n")
    repo.commit("a bigger predictor")
    planned, backends = _plan(repo, kubeconfig, mlflow_uri, trusted=True)
    _apply(planned, backends)
    resources = _served(devenv, repo)["model"]["resources"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "predictor"},
        "spec": {
            "containers": [{"name": "kserve-container", "image": "kserve/mlserver:1.3.2", "resources": resources}]
        },
    }
    created = client.CoreV1Api(devenv.admin_client()).create_namespaced_pod(repo.vision, pod, dry_run="All")
    assert created.spec.containers[0].resources.limits == {"cpu": "2", "memory": "2Gi"}
