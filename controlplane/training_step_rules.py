"""A pipeline's training steps checked before Argo and Trainer see them (part of `controlplane.pipeline_rules`).

Three rules the schema cannot state. No `{{...}}` in the training: Argo
substitutes run parameters into a resource template's manifest as text, so a
parameter value could add fields to the TrainJob (a ServiceAccount override,
a Secret volume); the manifest must be exactly what was reviewed. And the
step's name must start with a letter, because each run's TrainJob is named
after it and Trainer refuses a TrainJob name that is not a DNS-1035 label; and
that name must leave room for the pod names JobSet derives from it
(`training_job.name_limit`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from controlplane import pipeline_refs
from controlplane.errors import Diagnostic
from controlplane.loading.sources import LoadedSpec
from controlplane.specs.pipeline_training import TrainingStep
from controlplane.specs.training_job import name_limit, name_problem

GENERATED_SUFFIX = "-xxxxx"
"""What each run adds to the step's name: `generateName: <step>-` and the API server's five random characters."""

Path = pipeline_refs.Path


def templated(value: Any, path: Path) -> Iterator[Path]:
    """Paths (in the document's field names) of the strings under `value` that hold `{{`."""
    if isinstance(value, str):
        if "{{" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from templated(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from templated(item, (*path, i))


def check(loaded: LoadedSpec, i: int, step: TrainingStep) -> Iterator[Diagnostic]:
    base: Path = ("spec", "steps", i)
    if not step.name[0].isalpha():
        yield pipeline_refs.diag(
            loaded,
            (*base, "name"),
            f"training step {step.name!r} must start with a letter: its TrainJobs are named after it, "
            "and Trainer refuses a name that is not a DNS-1035 label",
            "rename the step, e.g. train-" + step.name,
            "steps",
        )
    limit, _ = name_limit(step.training_job)
    why = name_problem(len(step.name) + len(GENERATED_SUFFIX), step.training_job, "each run's TrainJob")
    if why is not None:
        yield pipeline_refs.diag(
            loaded,
            (*base, "name"),
            f"training step {step.name!r}: each run's TrainJob is named {step.name}{GENERATED_SUFFIX}; {why}",
            f"shorten the step's name to at most {limit - len(GENERATED_SUFFIX)} characters",
            "steps",
        )
    fields = step.training_job.model_dump(by_alias=True, exclude_defaults=True)
    for path in templated(fields, (*base, "trainingJob")):
        yield pipeline_refs.diag(
            loaded,
            path,
            "a training step takes no `{{...}}`: Argo would write run parameters into the TrainJob's manifest",
            "give the value itself; to vary a run, read parameters in the training code from a file or "
            "an earlier step's output it fetches, or declare one pipeline per variant",
            "reference",
        )
