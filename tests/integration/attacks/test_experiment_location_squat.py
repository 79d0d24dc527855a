"""Carol, owner of nlp, squats the tracking server's default artifact root to stop vision serving, and to serve its
files herself.

The tracking server places an experiment created without a location at `<default root>/<its id>`, outside every
tenant's artifact root: vision's `detector`, which mlcp created so, keeps its runs there, and vision's versions
registered from those runs are served because mlcp's own record says mlcp created that experiment there. Any MLflow
user may create an experiment at any location and tag it as mlcp's, and mlcp adopts a tagged experiment a tenant
declares. So Carol

(a) makes `<nlp>/everything` at the default root's top (a parent of every experiment placed there), tagged, and
    declares it in nlp's folder: vision's experiment once stopped counting (it lay "inside another experiment's
    location"), and vision's promotion of a version from its own run was blocked as not vision's files. Now an
    experiment lends (or takes) a location only by mlcp's record that mlcp created it: vision's promotion goes
    through and is served;
(b) makes `<nlp>/steal` at vision's experiment's very location, tagged, declares it (adopted), and promotes, in nlp,
    a version of nlp's model at vision's run's files: blocked, not served, as the adopted experiment lends nothing.

Against a real MLflow server of its own (object-store default root, no artifact proxy) and the session's cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from devenv.mlflowserver import MlflowServer
from tests.integration.attacks import gitattack
from tests.integration.mlflow_rest import MlflowRest

pytestmark = pytest.mark.integration

DEFAULT_ROOT = "s3://mlcp-attack-default-root"

PROMOTION = """apiVersion: mlcp.dev/v1alpha1
kind: ModelPromotion
metadata:
  name: NAME
spec:
  model: MODEL
  alias: candidate
  version: "1"
  serving:
    modelFormat: mlflow
    minReplicas: 1
    maxReplicas: 1
"""

EXPERIMENT = """apiVersion: mlcp.dev/v1alpha1
kind: Experiment
metadata:
  name: NAME
spec:
  tracking:
    name: TENANT/NAME
"""


@pytest.fixture(scope="module")
def default_root_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A tracking server that places experiments created without a location at `DEFAULT_ROOT/<id>`."""
    directory = tmp_path_factory.mktemp("mlflow-default-root")
    server = MlflowServer(directory / "mlflow", directory / "mlflow.log", default_artifact_root=DEFAULT_ROOT)
    server.start()
    try:
        server.wait_ready(120)
        yield server.uri
    finally:
        server.stop()


def _served(k8s_admin: client.ApiClient, namespace: str, name: str) -> str | None:
    try:
        found = client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices", name
        )
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return str(found["spec"]["predictor"]["model"]["storageUri"])  # type: ignore[index]


def _squat(op: gitattack.Operator, rest: MlflowRest, name: str, location: str) -> None:
    """Carol's experiment at `location`, tagged as mlcp's, declared in nlp's folder."""
    tenant = op.repo.repo.nlp
    rest.post(
        "experiments/create",
        name=f"{tenant}/{name}",
        artifact_location=location,
        tags=[{"key": "mlcp.dev/managed-by", "value": "mlcp"}],
    )
    op.repo.write(
        f"tenants/{tenant}/experiments/{name}.yaml", EXPERIMENT.replace("NAME", name).replace("TENANT", tenant)
    )
    op.repo.commit(f"nlp: track {name}", "carol")


def test_a_squatted_default_root_neither_blocks_vision_nor_lends_carol_its_files(
    tmp_path: Path, prefix: str, kubeconfig: Path, default_root_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, default_root_uri)
    repo = op.repo.repo
    rest = MlflowRest(default_root_uri)
    detector = rest.get("experiments/get-by-name", experiment_name=repo.experiment)["experiment"]
    assert detector["artifact_location"] == f"{DEFAULT_ROOT}/{detector['experiment_id']}", "mlcp made it there"
    run = rest.post("runs/create", experiment_id=detector["experiment_id"])["run"]["info"]
    files = f"{run['artifact_uri'].rstrip('/')}/model"
    rest.post("registered-models/create", name=repo.model)
    rest.post("model-versions/create", name=repo.model, source=files, run_id=run["run_id"])

    # (a) the default root's top, squatted and adopted, before vision promotes
    _squat(op, rest, "everything", f"{DEFAULT_ROOT}/")
    assert op.apply(tmp_path / "squat.jsonl").exit_code == 0
    op.repo.write(
        f"tenants/{repo.vision}/promotions/candidate.yaml",
        PROMOTION.replace("NAME", "candidate").replace("MODEL", repo.model),
    )
    op.repo.commit("vision: serve version 1 of its own run", "alice")
    result = op.apply(tmp_path / "vision.jsonl")
    assert result.exit_code == 0, gitattack.explain(result)
    assert gitattack.alias(rest, repo.model, "candidate") == "1"
    assert _served(k8s_admin, repo.vision, "candidate") == files

    # (b) vision's experiment's own location, squatted and adopted, lends nlp nothing
    _squat(op, rest, "steal", detector["artifact_location"])
    model = f"{repo.nlp}-sentiment"
    rest.post("registered-models/create", name=model)
    rest.post("model-versions/create", name=model, source=files)
    op.repo.write(
        f"tenants/{repo.nlp}/promotions/stolen.yaml", PROMOTION.replace("NAME", "stolen").replace("MODEL", model)
    )
    op.repo.commit("nlp: serve sentiment version 1", "carol")
    shown = gitattack.said(op.plan())
    assert f"version 1 of '{model}' keeps its artifacts at '{files}', which is not tenant " in shown, shown
    op.apply(tmp_path / "stolen.jsonl")
    assert gitattack.alias(rest, model, "candidate") is None, "the alias never moved"
    assert _served(k8s_admin, repo.nlp, "stolen") is None, "nlp's InferenceService never loads vision's files"
