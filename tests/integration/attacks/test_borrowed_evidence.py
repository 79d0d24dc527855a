"""Carol, owner of nlp, passes her promotion's gate on a measurement that is not nlp's.

A model version's `run_id` is whatever its registrant writes: `model-versions/create` takes any run id, and Carol
registers versions of nlp's own model `<nlp>-sentiment`. Its promotion's gate (`val_map >= 0.6`) was judged on
whichever run the version named: (a) a run of vision's experiment that measured 0.987654, so nlp's untested model
passed on vision's evaluation and the plan on Carol's PR printed vision's figure, read with mlcp's admin
credentials; (b) a run in an experiment she made herself, which no tenant governs, with the number she wanted;
(c) her honest run in nlp's own experiment named beside files another run of hers logged (a LoggedModel of her
scratch run, `models:/<model id>`: MLflow checks that source against `model_id`, never `run_id`), so the gate
vouched for files it never measured. Now the run must be in an experiment mlcp records as nlp's and the version's
files the ones it logged: `mlcp plan` blocks each, naming the run, its experiment and what to do, shows no figure
of the run (text or JSON, nor the audit), and `mlcp apply` leaves the alias where it is. A version of nlp's own
run, with its files, is promoted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

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
  version: "VERSION"
  gates:
    - metric: val_map
      comparison: ">="
      threshold: 0.6
"""
BORROWED = 0.987654
"""What the borrowed runs measured: it must appear nowhere mlcp writes."""
OWN = 0.71
"""What nlp's own run measured."""


def _run(rest: MlflowRest, experiment: str, value: float) -> str:
    run = rest.post("runs/create", experiment_id=experiment)["run"]["info"]
    rest.post("runs/log-metric", run_id=run["run_id"], key="val_map", value=value, timestamp=0, step=0)
    return str(run["run_id"])


def test_nlps_gate_never_passes_on_a_run_that_is_not_nlps(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo = op.repo.repo
    rest = MlflowRest(mlflow_uri)
    vision = gitattack.tenant_experiment(rest, repo)  # made by the first apply
    vision_run = _run(rest, vision, BORROWED)  # vision's evaluation
    nlp_experiment = rest.get("experiments/get-by-name", experiment_name=f"{repo.nlp}/sentiment")["experiment"]
    nlp_root = f"s3://{prefix}-models/{repo.nlp}"
    # Carol's own experiment, which she tells mlcp nothing about, at nlp's root: nothing but the run's place differs
    scratch = rest.post("experiments/create", name=f"{repo.nlp}-scratch", artifact_location=f"{nlp_root}/scratch")
    scratch_run = _run(rest, scratch["experiment_id"], BORROWED)
    own_run = _run(rest, nlp_experiment["experiment_id"], OWN)
    # a model Carol logged from her scratch run: MLflow checks a `models:/<model id>` source against `model_id`,
    # never against `run_id`
    logged = rest.post("logged-models", experiment_id=scratch["experiment_id"], name="m", source_run_id=scratch_run)
    logged_id = logged["model"]["info"]["model_id"]

    model = f"{repo.nlp}-sentiment"
    rest.post("registered-models/create", name=model)
    borrowed = (  # version, run_id, source, the experiment the refusal names
        (1, vision_run, f"{nlp_root}/1/model", f"it is in experiment {vision}, which mlcp does not record as tenant"),
        (2, scratch_run, f"{nlp_root}/2/model", f"it is in experiment {scratch['experiment_id']}, which mlcp does not"),
        (3, own_run, f"models:/{logged_id}", f"its source is LoggedModel {logged_id}, whose files run {scratch_run}"),
    )
    for _, run_id, source, _ in borrowed:
        ids = {"model_id": logged_id} if source.startswith("models:") else {}
        rest.post("model-versions/create", name=model, source=source, run_id=run_id, **ids)
    rest.post("model-versions/create", name=model, source=f"{nlp_root}/4/model", run_id=own_run)

    rel = f"tenants/{repo.nlp}/promotions/sentiment-candidate.yaml"
    for version, run_id, _, said in borrowed:
        op.repo.write(rel, PROMOTION.replace("MODEL", model).replace("VERSION", str(version)))
        op.repo.commit(f"nlp: promote sentiment version {version}", "carol")
        plan = op.plan()
        shown = gitattack.said(plan)
        assert f"the gates of version {version} of '{model}' judge the metrics of its run {run_id}, but " in shown, (
            shown
        )
        assert said in shown, shown
        assert "register the version from a run in one of the tenant's experiments" in shown
        as_json = op.cli("plan", str(op.repo.root), "-o", "json", *op._targets())
        audit = tmp_path / f"v{version}.jsonl"
        op.apply(audit)
        for written in (plan.output, as_json.output, audit.read_text(encoding="utf-8")):
            assert "0.98765" not in written, "no figure of a run outside nlp reaches the plan, its JSON or the audit"
        assert gitattack.alias(rest, model, "candidate") is None, "the alias never moved"

    op.repo.write(rel, PROMOTION.replace("MODEL", model).replace("VERSION", "4"))
    op.repo.commit("nlp: promote sentiment version 4, measured by nlp's own run", "carol")
    result = op.apply(tmp_path / "own.jsonl")
    assert result.exit_code == 0, gitattack.explain(result)
    assert gitattack.alias(rest, model, "candidate") == "4"
