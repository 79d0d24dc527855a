"""Carol, owner of nlp, serves vision's model files from nlp's own model through an allowed promotion.

A model version's source is whatever its registrant writes: MLflow checks only local and `mlflow-artifacts:`
sources against their run, a `runs:/` source may name any run she can read and `models:/` any version. Carol
registers versions of nlp's own model `<nlp>-sentiment` whose files are vision's (vision's artifact root; a run of
vision's training experiment; a copy of vision's model's version) and promotes them in nlp's folder, a change the
policy allows her. Promoted, nlp's InferenceService would load vision's files with nlp's namespace's storage
credentials. Now the served location (after `runs:/` and `models:/` are resolved by the server) must lie under
nlp's artifact roots (the trusted base's mlcp.yaml) or the location of an experiment mlcp manages for nlp:
`mlcp plan` blocks the alias move and the serving together, naming whose files they are not and what to do, and
`mlcp apply` writes neither. A version under nlp's own root is served.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack
from tests.integration.mlflow_rest import MlflowRest

pytestmark = pytest.mark.integration

PROMOTION = """apiVersion: mlcp.dev/v1alpha1
kind: ModelPromotion
metadata:
  name: sentiment-candidate
spec:
  model: MODEL
  alias: candidate
  version: VERSION
  serving:
    modelFormat: mlflow
    minReplicas: 1
    maxReplicas: 1
"""


def _served(k8s_admin: client.ApiClient, namespace: str) -> bool:
    try:
        client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices", "sentiment-candidate"
        )
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def test_nlps_promotion_of_vision_files_is_blocked(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo = op.repo.repo
    rest = MlflowRest(mlflow_uri)
    vision_root = f"s3://{prefix}-models/{repo.vision}"
    # vision's own training: an experiment under vision's root, and a run in it
    training = rest.post("experiments/create", name=f"{repo.vision}/training", artifact_location=f"{vision_root}/t")
    run = rest.post("runs/create", experiment_id=training["experiment_id"])["run"]["info"]
    assert run["artifact_uri"].startswith(f"{vision_root}/t/"), run

    # Carol registers nlp's model: 1 at vision's files, 2 from vision's run, 3 a copy of vision's version (models:/),
    # 4 in nlp's own folder
    model = f"{repo.nlp}-sentiment"
    rest.post("registered-models/create", name=model)
    rest.post("model-versions/create", name=model, source=f"{vision_root}/1/model")
    rest.post("model-versions/create", name=model, source=f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    gitattack.register_model(rest, repo, versions=1)  # vision's model, version 1 at vision's root
    rest.post("model-versions/create", name=model, source=f"models:/{repo.model}/1")  # a copy of vision's version
    rest.post("model-versions/create", name=model, source=f"s3://{prefix}-models/{repo.nlp}/4/model")

    rel = f"tenants/{repo.nlp}/promotions/sentiment-candidate.yaml"
    # what the refusal on her pull request names: what she wrote, never the place mlcp read for a reference
    stolen = (
        (1, f"at '{vision_root}/1/model'"),
        (2, f"where its source 'runs:/{run['run_id']}/model' leads"),
        (3, f"where its source 'models:/{repo.model}/1' leads"),
    )
    for version, files in stolen:
        op.repo.write(rel, PROMOTION.replace("MODEL", model).replace("VERSION", str(version)))
        op.repo.commit(f"nlp: serve sentiment version {version}", "carol")
        shown = gitattack.said(op.plan())
        assert f"version {version} of '{model}' keeps its artifacts {files}, which is not tenant " in shown, shown
        if version > 1:
            assert run["artifact_uri"] not in shown, "nothing read from vision's run is shown to nlp"
        assert "Register the version from a run of one of the tenant's experiments" in shown
        op.apply(tmp_path / f"v{version}.jsonl")
        assert gitattack.alias(rest, model, "candidate") is None, "the alias never moved"
        assert not _served(k8s_admin, repo.nlp), "nlp's InferenceService never loads vision's files"

    op.repo.write(rel, PROMOTION.replace("MODEL", model).replace("VERSION", "4"))
    op.repo.commit("nlp: serve sentiment version 4, from nlp's own folder", "carol")
    result = op.apply(tmp_path / "own.jsonl")
    assert result.exit_code == 0, gitattack.explain(result)
    assert gitattack.alias(rest, model, "candidate") == "4"
    assert _served(k8s_admin, repo.nlp)
