"""A pipeline step that runs distributed training: it creates a Trainer `TrainJob` and waits for it.

The training is declared in the step itself, with the very fields (and rules)
of a `TrainingJob` spec, rather than naming a TrainingJob: a TrainingJob spec
is a job mlcp keeps applied, so a pipeline naming one would run it twice (once
on apply, once per run), and a name would be one more reference to resolve
across specs. Declared inline, there is one definition, it cannot point into
another tenant, and its experiment is checked against the pipeline's own
tenant like a TrainingJob's (`Pipeline.cross_checks`).

A step is either a container (`pipeline_steps.Step`) or training: a step with
`trainingJob` is this one. Which one a document is decides which model checks
it, so a typo in a container step is reported against the container's fields
only.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag

from controlplane.specs.base import UNION_TAGS
from controlplane.specs.pipeline_steps import DagNode, Retry, Step
from controlplane.specs.training_job import TrainingJobSpec

CONTAINER_TAG = "container-step"
TRAINING_TAG = "training-step"
UNION_TAGS.update((CONTAINER_TAG, TRAINING_TAG))


class TrainingStep(DagNode):
    """A DAG node that creates a Kubeflow Trainer `TrainJob` and waits until it completes or fails."""

    training_job: TrainingJobSpec = Field(
        description=(
            "The training to run, with the fields of a TrainingJob spec; each run of the step creates a new "
            "TrainJob. No `{{...}}` here: run parameters are never written into the TrainJob."
        )
    )
    retry: Retry | None = Field(default=None, description="Create a new TrainJob when one fails.")
    timeout: str | None = Field(
        default=None, description="Fail the step if the TrainJob has not finished after this long, e.g. `12h`."
    )


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return TRAINING_TAG if "trainingJob" in value or "training_job" in value else CONTAINER_TAG
    return TRAINING_TAG if isinstance(value, TrainingStep) else CONTAINER_TAG


AnyStep = Annotated[
    Annotated[Step, Tag(CONTAINER_TAG)] | Annotated[TrainingStep, Tag(TRAINING_TAG)],
    Discriminator(_kind_of),
]
"""A step of a pipeline: a container, or training (a step with `trainingJob`)."""
