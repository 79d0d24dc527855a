"""Experiment: an MLflow experiment, optionally with hyper-parameter tuning.

Tracking always becomes an MLflow experiment; `tuning` also becomes the object
of its tuner (a Katib Experiment by default) whose trials run one of the
tenant's pipelines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from controlplane.specs.base import Finding, NameRule, Spec, TenantSpecs, register
from controlplane.specs.kube_syntax import INT32_MAX, DnsLabel
from controlplane.specs.mlflow_tags import KEY_MAX, NAME_MAX, VALUE_MAX, checked_tags
from controlplane.specs.model import NonEmptyStr, SpecModel, error_at
from controlplane.specs.pipeline import Pipeline
from controlplane.specs.pipeline_steps import Step

ARTIFACT_SCHEMES = ("s3://", "gs://", "wasbs://", "abfss://", "mlflow-artifacts:/")
"""Where an experiment's artifacts may live: an object store (its own credentials, from the runs' environment), or
the tracking server's own proxied store with no host (`mlflow-artifacts:/path`). Not `http(s)://` nor
`mlflow-artifacts://<host>/...` (MLflow's client sends the tracking credentials to that host), not `file:` (a path
on whichever machine logs), not `runs:`/`models:`."""


def _artifact_location(value: str) -> str:
    if not value.startswith(ARTIFACT_SCHEMES) or value.startswith("mlflow-artifacts://"):
        raise ValueError(
            f"artifactLocation {value!r}: use an object store (s3://, gs://, wasbs://, abfss://) or the tracking "
            "server's own store without a host (mlflow-artifacts:/<tenant>/...); a host, http(s):// or file: would "
            "send runs' artifacts, and with mlflow-artifacts: or http(s): the tracking credentials, elsewhere"
        )
    if ".." in value.split("/"):
        raise ValueError(f"artifactLocation {value!r}: no '..' path segments")
    return value


class Tracking(SpecModel):
    name: NonEmptyStr | None = Field(
        default=None,
        max_length=NAME_MAX,
        description="MLflow experiment name; must start with `<tenant>/` (the tenant's own); "
        f"defaults to `<tenant>/<name>`. At most {NAME_MAX} characters (MLflow's limit).",
    )
    description: str | None = Field(
        default=None,
        max_length=VALUE_MAX,
        description=f"Experiment description (MLflow keeps it in a tag: at most {VALUE_MAX} characters).",
    )
    tags: Annotated[dict[str, str], AfterValidator(checked_tags)] = Field(
        default_factory=dict,
        description="Experiment tags. Keys as MLflow takes them (letters, digits, `_ - . : /` and spaces, a "
        f"normal relative path, at most {KEY_MAX} characters; values at most {VALUE_MAX}), none under `mlcp.dev/` "
        "(mlcp's own) or `mlflow.` (MLflow's own).",
    )
    artifact_location: Annotated[str, AfterValidator(_artifact_location)] | None = Field(
        default=None,
        description="Artifact root (only used when the experiment is created): an object store (`s3://`, `gs://`, "
        "`wasbs://`, `abfss://`) or the tracking server's own store as `mlflow-artifacts:/<tenant>/...` (no host: "
        "MLflow's client would send the tracking credentials to it). It must lie under one of the tenant's artifact "
        "roots (`artifacts.roots` of the trusted base's mlcp.yaml; default `mlflow-artifacts:/<tenant>/`). Unset: "
        "the server's default.",
    )


class Objective(SpecModel):
    metric: NonEmptyStr = Field(description="Metric the trials report, e.g. `val_auc`.")
    type: Literal["maximize", "minimize"] = Field(description="Direction of optimization.")
    goal: float | None = Field(default=None, description="Stop once this value is reached.")
    additional_metrics: list[str] = Field(default_factory=list, description="Also collected.")


class Algorithm(SpecModel):
    name: Literal["random", "grid", "bayesianoptimization", "tpe", "multivariate-tpe", "cmaes", "hyperband"]
    settings: dict[str, str] = Field(default_factory=dict, description="Algorithm settings.")


class SearchParameter(SpecModel):
    """One dimension of the search space."""

    name: NonEmptyStr = Field(description="Passed to the trial pipeline as a parameter of this name.")
    type: Literal["double", "int", "categorical", "discrete"]
    min: float | None = Field(default=None, description="Lower bound (double, int).")
    max: float | None = Field(default=None, description="Upper bound (double, int).")
    step: float | None = Field(default=None, gt=0, description="Step (double, int).")
    values: list[str] = Field(default_factory=list, description="Choices (categorical, discrete).")

    @model_validator(mode="after")
    def _range_or_values(self) -> SearchParameter:
        if self.type in ("double", "int"):
            if self.min is None or self.max is None:
                raise ValueError(f"parameter {self.name!r} of type {self.type} needs `min` and `max`")
            if self.min >= self.max:
                raise ValueError(f"parameter {self.name!r}: `min` must be below `max`")
            if self.values:
                raise ValueError(f"parameter {self.name!r} of type {self.type} takes no `values`")
        elif not self.values:
            raise ValueError(f"parameter {self.name!r} of type {self.type} needs `values`")
        return self


DEFAULT_TUNER = "katib"
"""The tuner of a `tuning` that names none: Katib, the only one today."""

KATIB_SERVICE_MAX = 63
"""The longest Service name (a DNS-1035 label): Katib names its suggestion's Service `<experiment>-<algorithm>`."""


def katib_name_rules(algorithm: str) -> tuple[NameRule, ...]:
    """What Katib demands of the name of the Experiment it runs with `algorithm`, beyond a DNS label.

    Its validating webhook refuses a name that does not start with a letter (`^[a-z]([-a-z0-9]*[a-z0-9])?`,
    pkg/webhook/v1beta1/experiment/validator), and it names the suggestion's Deployment and Service
    `<name>-<algorithm>`: a longer Service name is refused by the API server, so the experiment never gets a
    suggestion and runs no trial. (Its trials, `<name>-<8 characters>`, fit within the spec label's bound.)
    """
    return (
        NameRule("Katib's webhook refuses an Experiment whose name does not start with a letter", letter_first=True),
        NameRule(
            f"Katib names the suggestion's Service `<name>-{algorithm}`, which the API server refuses over "
            f"{KATIB_SERVICE_MAX} characters, so no trial would ever run",
            max_length=KATIB_SERVICE_MAX - 1 - len(algorithm),
        ),
    )


class Tuning(SpecModel):
    """Hyper-parameter search, rendered by its tuner (Katib's Experiment unless `tuner` says otherwise)."""

    tuner: DnsLabel = Field(
        default=DEFAULT_TUNER,
        description="Which tuner runs the search: `katib` (a Katib Experiment, the default). Each tuner is a "
        "module registering itself; a name no tuner registered is refused by `mlcp validate`.",
    )
    objective: Objective
    algorithm: Algorithm
    parameters: list[SearchParameter] = Field(min_length=1)
    parallel_trials: int = Field(default=2, ge=1, le=INT32_MAX, description="Trials run at once.")
    max_trials: int = Field(default=10, ge=1, le=INT32_MAX, description="Trials in all.")
    max_failed_trials: int = Field(
        default=3, ge=0, le=INT32_MAX, description="Failures before giving up; at most `maxTrials` (Katib's rule)."
    )
    trial_pipeline: DnsLabel = Field(description="Pipeline (same tenant) each trial runs.")
    metrics_step: DnsLabel | None = Field(
        default=None,
        description="The trial pipeline's container step whose output prints the metrics (`<metric>=<value>` "
        "lines): Katib's collector goes into that step's pods only. Needed when the pipeline runs more than one "
        "step or has an exit handler; with one container step, that step.",
    )

    @model_validator(mode="after")
    def _counts(self) -> Tuning:
        """What Katib's validating webhook refuses of the Experiment (after the spec's other objects are written)."""
        if self.parallel_trials > self.max_trials:
            raise ValueError("`parallelTrials` cannot exceed `maxTrials`")
        if self.max_failed_trials > self.max_trials:
            raise error_at(
                ("maxFailedTrials",),
                f"`maxFailedTrials` ({self.max_failed_trials}, 3 unless set) cannot exceed `maxTrials` "
                f"({self.max_trials}): Katib refuses the Experiment",
            )
        if self.objective.metric in self.objective.additional_metrics:
            i = self.objective.additional_metrics.index(self.objective.metric)
            raise error_at(
                ("objective", "additionalMetrics", i),
                f"{self.objective.metric!r} is the objective's metric: Katib refuses it among `additionalMetrics`",
            )
        return self


def metrics_step_findings(tuning: Tuning, pipeline: Pipeline) -> Iterable[Finding]:
    """The step whose pods Katib's collector goes into: a container step, named unless it is the only pod a run has.

    Katib's pod webhook injects the collector into every pod a trial owns unless `primaryPodLabels` narrows it
    (kubeflow/katib pkg/webhook/v1beta1/pod/inject_webhook.go, `Mutate`), and wraps the container named
    `primaryContainerName` (Argo's `main`) in `sh -c "<command> 1>/var/log/katib/metrics.log 2>&1 && ..."`
    (pkg/webhook/v1beta1/pod/utils.go, `wrapWorkerContainer`): every other step's image would need a shell, its
    arguments would be split again by that shell, its output would be read as metrics, and each pod would run
    (and be charged for) a collector. A training step's own pod only creates its TrainJob.
    """
    where = ("spec", "tuning", "metricsStep")
    containers = [s.name for s in pipeline.spec.steps if isinstance(s, Step)]
    if tuning.metrics_step is not None:
        if tuning.metrics_step not in containers:
            training = tuning.metrics_step in {s.name for s in pipeline.spec.steps}
            yield Finding(
                where,
                f"pipeline {pipeline.name!r} has no container step {tuning.metrics_step!r}"
                + (": it is a training step, whose pod only creates its TrainJob" if training else ""),
                f"name the step whose output prints the metrics: one of {', '.join(containers) or '(none)'}",
                "reference",
            )
        return
    pods = len(pipeline.spec.steps) + (pipeline.spec.on_exit is not None)
    if tuning.tuner == DEFAULT_TUNER and (pods > 1 or not containers):
        yield Finding(
            ("spec", "tuning", "trialPipeline"),
            f"pipeline {pipeline.name!r} runs {pods} pods per run: without `metricsStep` Katib puts its metrics "
            "collector into each of them (each command wrapped in `sh -c`, its output read as metrics)",
            f"set `metricsStep` to the container step that prints `{tuning.objective.metric}=<value>`: one of "
            f"{', '.join(containers) or '(none: add one)'}",
            "reference",
        )


class ExperimentSpec(SpecModel):
    tracking: Tracking = Field(default_factory=Tracking, description="MLflow experiment settings.")
    tuning: Tuning | None = Field(default=None, description="Optional hyper-parameter tuning.")


@register
class Experiment(Spec):
    """An MLflow experiment, plus a Katib tuning run when `tuning` is set."""

    kind: Literal["Experiment"] = "Experiment"
    spec: ExperimentSpec
    folder = "tenants/<tenant>/experiments/<name>.yaml"

    @property
    def in_cluster(self) -> bool:
        """Only a tuning renders a Kubernetes object (the tuner's); the experiment itself is MLflow's."""
        return self.spec.tuning is not None

    def name_findings(self) -> Iterable[Finding]:
        """A tuning's tuner names objects after the experiment: Katib's rules depend on the algorithm."""
        yield from super().name_findings()
        tuning = self.spec.tuning
        if tuning is not None and tuning.tuner == DEFAULT_TUNER:
            for rule in katib_name_rules(tuning.algorithm.name):
                found = rule.finding(self.kind, self.name)
                if found is not None:
                    yield found
                    return  # one reason at a time: a name that starts wrong may also be long

    def cross_checks(self, tenant: TenantSpecs) -> Iterable[Finding]:
        """A tuning's metrics come from one container step of its trial pipeline. (Whose roots an artifact location
        may name is the trusted base's rule: controlplane/artifact_homes.py.)"""
        tuning = self.spec.tuning
        if tuning is not None:
            for pipeline in tenant.of_kind("Pipeline"):
                if pipeline.name == tuning.trial_pipeline and isinstance(pipeline, Pipeline):
                    yield from metrics_step_findings(tuning, pipeline)

    def mlflow_name(self, tenant: str) -> str:
        return self.spec.tracking.name or f"{tenant}/{self.metadata.name}"
