"""The Katib tuner: Experiment with tuning → Katib Experiment whose trials run the referenced pipeline.

Each trial is an Argo Workflow that references the tenant's WorkflowTemplate
and passes the trial's parameter assignments as workflow arguments, as
upstream's Argo example does (kubeflow/katib examples/v1beta1/argo/
argo-workflow.yaml): Argo's container is `main`, the trial ends with the
Workflow's phase, and `primaryPodLabels` names the pod of the `metricsStep`
(its step label, set on every container step's pods by the pipeline renderer)
so Katib's collector goes into that pod only (specs.experiment's
`metrics_step_findings` says why). No
maintained Python models exist for Katib's v1beta1 API in our dependency set
(the `kubeflow-katib` SDK pins its own gRPC stack), so the manifest is built
here as data, and the project's CRD schema plus the API server check it.
"""

from __future__ import annotations

from typing import Any, cast

from controlplane.labels import STEP_LABEL
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import EditableFields
from controlplane.rendering.catalog import Resource
from controlplane.rendering.context import TENANT_WORKLOAD_SA, RenderContext, metadata
from controlplane.rendering.experiment import tuner
from controlplane.rendering.pipeline import ARGO_API
from controlplane.specs import Experiment
from controlplane.specs.experiment import SearchParameter, Tuning

KATIB_API = "kubeflow.org/v1beta1"
COUNTS = (("spec", "parallelTrialCount"), ("spec", "maxTrialCount"), ("spec", "maxFailedTrialCount"))
"""What Katib's validating webhook lets an update of an Experiment change: `only spec.parallelTrialCount,
spec.maxTrialCount and spec.maxFailedTrialCount are editable` (kubeflow/katib
pkg/webhook/v1beta1/experiment/validator/validator.go, `ValidateExperiment` with an old object)."""
IN_PLACE = EditableFields(
    (("metadata",), *COUNTS),
    "Katib changes only a running tuning's trial counts (parallelTrials, maxTrials, maxFailedTrials) and refuses "
    "any other change of the Experiment; to run another search, give the experiment a new name, or delete the "
    "Katib Experiment (`kubectl delete experiments.kubeflow.org <name> -n <namespace>`, its trials with it) so "
    "that the next apply creates it again",
)
KATIB_EXPERIMENT = Resource(
    60, "kubeflow.org", "v1beta1", "Experiment", "experiments", namespaced=True, editable=IN_PLACE
)


def _feasible(param: SearchParameter) -> dict[str, Any]:
    if param.min is None or param.max is None:  # categorical / discrete (the spec model guarantees it)
        return {"list": list(param.values)}
    number = int if param.type == "int" else float
    space: dict[str, Any] = {"min": str(number(param.min)), "max": str(number(param.max))}
    if param.step is not None:
        space["step"] = str(number(param.step))
    return space


def _trial_template(tuning: Tuning) -> dict[str, Any]:
    workflow = {
        "apiVersion": ARGO_API,
        "kind": "Workflow",
        "spec": {
            "serviceAccountName": TENANT_WORKLOAD_SA,
            "workflowTemplateRef": {"name": tuning.trial_pipeline},
            "arguments": {
                "parameters": [{"name": p.name, "value": f"${{trialParameters.{p.name}}}"} for p in tuning.parameters]
            },
        },
    }
    template: dict[str, Any] = {}
    if tuning.metrics_step is not None:  # unset: the trial pipeline runs one pod (validation)
        template["primaryPodLabels"] = {STEP_LABEL: tuning.metrics_step}
    return {
        **template,
        "primaryContainerName": "main",
        "successCondition": 'status.[@this].#(phase=="Succeeded")#',
        "failureCondition": 'status.[@this].#(phase=="Failed")#',
        "trialParameters": [{"name": p.name, "reference": p.name} for p in tuning.parameters],
        "trialSpec": workflow,
    }


@tuner("katib", KATIB_EXPERIMENT)
def katib_experiment(loaded: LoadedSpec, tuning: Tuning, ctx: RenderContext) -> dict[str, Any]:
    experiment = cast(Experiment, loaded.spec)
    ns = ctx.namespace(loaded.tenant)
    objective: dict[str, Any] = {"type": tuning.objective.type, "objectiveMetricName": tuning.objective.metric}
    if tuning.objective.goal is not None:
        objective["goal"] = tuning.objective.goal
    if tuning.objective.additional_metrics:
        objective["additionalMetricNames"] = list(tuning.objective.additional_metrics)
    algorithm: dict[str, Any] = {"algorithmName": tuning.algorithm.name}
    if tuning.algorithm.settings:
        algorithm["algorithmSettings"] = [{"name": k, "value": v} for k, v in sorted(tuning.algorithm.settings.items())]
    return {
        "apiVersion": KATIB_API,
        "kind": "Experiment",
        "metadata": metadata(loaded, ctx, experiment.metadata.name, ns),
        "spec": {
            "objective": objective,
            "algorithm": algorithm,
            "parallelTrialCount": tuning.parallel_trials,
            "maxTrialCount": tuning.max_trials,
            "maxFailedTrialCount": tuning.max_failed_trials,
            "parameters": [
                {"name": p.name, "parameterType": p.type, "feasibleSpace": _feasible(p)} for p in tuning.parameters
            ],
            "trialTemplate": _trial_template(tuning),
        },
    }
