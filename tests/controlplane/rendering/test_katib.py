"""The Katib Experiment mlcp renders, against what Katib itself does with it (Katib does not run in the test
environment, only a CRD written here: devenv/crds.py). Each fact is pinned to the upstream source it comes from
(github.com/kubeflow/katib, v0.19):

- its validating webhook (pkg/webhook/v1beta1/experiment/validator/validator.go, `validateTrialTemplate`) refuses a
  trial template without `primaryContainerName`, `successCondition` and `failureCondition`, a trial parameter whose
  name holds `{` or `}` or is used twice, a `${trialParameters.X}` the template does not hold or one it holds that no
  trial parameter names, and a trial spec with a name or namespace;
- its pod webhook (pkg/webhook/v1beta1/pod/inject_webhook.go, `Mutate`) puts the metrics collector into every pod a
  trial owns unless `primaryPodLabels` narrows it to the pods carrying those labels (utils.go, `isPrimaryPod`), and
  wraps the container named `primaryContainerName` (utils.go, `wrapWorkerContainer`);
- it lets an update change only the trial counts (validator.go, `ValidateExperiment` with an old object);
- its Argo Workflows example (examples/v1beta1/argo/argo-workflow.yaml) ends a trial with the Workflow's phase and
  names Argo's container `main`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from controlplane.inventory import Inventory
from controlplane.labels import STEP_LABEL
from controlplane.loading.repo import load_repo
from controlplane.planning import PlanOptions, plan
from controlplane.plans import Action, Change, LiveObject
from controlplane.rendering import RenderContext, catalog, render
from tests.controlplane.helpers import copy_template, edit, problems

DETECTOR = "tenants/vision/experiments/detector.yaml"
PARAMETER = re.compile(r"\$\{trialParameters\.([^}]+)\}")
"""consts.TrialTemplateParamReplaceFormatRegex (pkg/controller.v1beta1/consts/const.go)."""


def _objects(root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o.ref.kind, o.ref.name): o.manifest for o in render(RenderContext(load_repo(root)))}


def katib_refusals(trial_template: dict[str, Any]) -> list[str]:
    """What `validateTrialTemplate` refuses of a trial template, in its order."""
    found = [
        field
        for field in ("primaryContainerName", "successCondition", "failureCondition", "trialParameters", "trialSpec")
        if not trial_template.get(field)
    ]
    text = json.dumps(trial_template.get("trialSpec", {}))
    names = [p["name"] for p in trial_template.get("trialParameters", [])]
    found += [f"invalid name {n!r}" for n in names if "{" in n or "}" in n]
    found += [f"duplicated {n!r}" for n in set(names) if names.count(n) > 1]
    found += [f"{n!r} not in the trial spec" for n in names if f"${{trialParameters.{n}}}" not in text]
    found += [f"{n!r} not a trial parameter" for n in PARAMETER.findall(text) if n not in names]
    metadata = trial_template.get("trialSpec", {}).get("metadata", {})
    found += [f"trialSpec.metadata.{k} set" for k in ("name", "namespace") if metadata.get(k)]
    return found


def test_the_trial_template_passes_katibs_validating_webhook(tmp_path: Path) -> None:
    katib = _objects(copy_template(tmp_path / "repo"))[("Experiment", "detector")]
    assert katib_refusals(katib["spec"]["trialTemplate"]) == []


def test_trials_end_with_the_workflows_phase_and_argos_main_container(tmp_path: Path) -> None:
    template = _objects(copy_template(tmp_path / "repo"))[("Experiment", "detector")]["spec"]["trialTemplate"]
    assert template["primaryContainerName"] == "main"
    assert template["successCondition"] == 'status.[@this].#(phase=="Succeeded")#'
    assert template["failureCondition"] == 'status.[@this].#(phase=="Failed")#'
    assert (template["trialSpec"]["apiVersion"], template["trialSpec"]["kind"]) == ("argoproj.io/v1alpha1", "Workflow")


def test_the_collector_goes_into_the_metrics_steps_pods_only(tmp_path: Path) -> None:
    """Without `primaryPodLabels` Katib wrapped fetch-data's, train's and evaluate's commands in `sh -c` and read
    each one's output as metrics; the labels it selects are on the metrics step's template alone, from which Argo
    labels that step's pods (tests/integration/test_pipeline_runs.py)."""
    objects = _objects(copy_template(tmp_path / "repo"))
    selected = objects[("Experiment", "detector")]["spec"]["trialTemplate"]["primaryPodLabels"]
    assert selected == {STEP_LABEL: "train"}
    steps = objects[("WorkflowTemplate", "train-detector")]["spec"]["templates"][1:]
    chosen = [t["name"] for t in steps if selected.items() <= t.get("metadata", {}).get("labels", {}).items()]
    assert chosen == ["train"]


def test_a_single_step_pipeline_needs_no_metrics_step(tmp_path: Path) -> None:
    """Its one pod is the trial's only pod: the template renders as it did before `metricsStep` existed, so a live
    Experiment (whose trial template Katib refuses to change) is not touched."""
    root = copy_template(tmp_path / "repo")
    edit(root, DETECTOR, "    metricsStep: train\n", "")
    edit(root, DETECTOR, "trialPipeline: train-detector", "trialPipeline: evolving")
    pipeline = "spec:\n  parameters:\n    - {name: learning-rate}\n    - {name: epochs}\n  steps:\n"
    step = "    - {name: fit, image: ghcr.io/example/fit:1.0, command: [fit]}\n"
    head = "apiVersion: mlcp.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: evolving\n"
    (root / "tenants/vision/pipelines/evolving.yaml").write_text(head + pipeline + step, encoding="utf-8")
    assert problems(root) == []
    template = _objects(root)[("Experiment", "detector")]["spec"]["trialTemplate"]
    assert "primaryPodLabels" not in template and katib_refusals(template) == []


def _planned(root: Path, live_spec: dict[str, Any]) -> Change:
    objects = render(RenderContext(load_repo(root)))
    [katib] = [o for o in objects if o.ref.kind == "Experiment" and o.ref.system == "kubernetes"]
    live = LiveObject(katib.ref, {"metadata": katib.manifest["metadata"], "spec": live_spec}, "7")
    options = PlanOptions(editable=catalog.editable)
    [change] = plan([katib], {katib.ref: live}, Inventory(), options).changes
    return change


def test_a_tuning_change_katib_refuses_is_blocked_in_the_plan(tmp_path: Path) -> None:
    """Katib's webhook lets an update change the trial counts only (validator.go: `only spec.parallelTrialCount,
    spec.maxTrialCount and spec.maxFailedTrialCount are editable`): a new goal was written at apply, refused
    there after the spec's other objects were, and again at every pass. The plan now blocks it and says how to
    run another search; the counts still change in place."""
    root = copy_template(tmp_path / "repo")
    rendered = _objects(root)[("Experiment", "detector")]["spec"]
    moved = _planned(root, {**rendered, "objective": {**rendered["objective"], "goal": 0.5}})
    assert moved.action is Action.update and moved.blocked is not None
    assert moved.blocked.startswith("spec.objective.goal cannot change in place: Katib changes only")
    assert "give the experiment a new name" in moved.blocked
    more = _planned(root, {**rendered, "maxTrialCount": 6, "parallelTrialCount": 1})
    assert more.action is Action.update and more.blocked is None
