"""Experiment: an MLflow experiment, optionally with hyper-parameter tuning.

Tracking always becomes an MLflow experiment; `tuning` also becomes the object
of its tuner (a Katib Experiment by default) whose trials run one of the
tenant's pipelines.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from controlplane.specs.base import INT32_MAX, DnsLabel, NonEmptyStr, Spec, SpecModel, register


class Tracking(SpecModel):
    name: NonEmptyStr | None = Field(
        default=None,
        description="MLflow experiment name; must start with `<tenant>/` (the tenant's own); "
        "defaults to `<tenant>/<name>`.",
    )
    description: str | None = Field(default=None, description="Experiment description.")
    tags: dict[str, str] = Field(default_factory=dict, description="Experiment tags.")
    artifact_location: str | None = Field(
        default=None, description="Artifact root (only used when the experiment is created)."
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
    max_failed_trials: int = Field(default=3, ge=0, le=INT32_MAX, description="Failures before giving up.")
    trial_pipeline: DnsLabel = Field(description="Pipeline (same tenant) each trial runs.")

    @model_validator(mode="after")
    def _counts(self) -> Tuning:
        if self.parallel_trials > self.max_trials:
            raise ValueError("`parallelTrials` cannot exceed `maxTrials`")
        return self


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

    def mlflow_name(self, tenant: str) -> str:
        return self.spec.tracking.name or f"{tenant}/{self.metadata.name}"
