"""Experiment → its tuning run, through the tuning seam: a registry of tuners, one module each.

`Experiment.tuning` describes a search (objective, algorithm, parameters,
trials, the pipeline each trial runs) in terms no controller owns. A tuner
turns it into one controller's object: today Katib's `Experiment`
(`rendering/katib.py`). Kubeflow Trainer's OptimizationJob is meant to replace
Katib (kubeflow/trainer#3562); it will be one more module registering a tuner
with `tuner(name, resource)`, declaring the resource it writes, with nothing
else edited (docs/architecture.md, "Tuning"). The MLflow side of an Experiment
is rendered by `mlflow_objects` and `mlflow_permissions`, whatever the tuner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering import catalog
from controlplane.rendering.context import RenderContext, desired
from controlplane.rendering.registry import renders
from controlplane.specs import Experiment
from controlplane.specs.experiment import Tuning

Tuner = Callable[[LoadedSpec, Tuning, RenderContext], dict[str, Any]]
"""Renders one experiment's tuning as the manifest of the tuner's resource."""

TUNERS: dict[str, Tuner] = {}
DEFAULT_TUNER = "katib"
"""The tuner used for every `tuning` until a second one exists and a setting chooses between them."""


def tuner(name: str, produces: catalog.Resource) -> Callable[[Tuner], Tuner]:
    """Register a tuner under `name`, declaring the resource it renders as an Experiment's object."""
    catalog.declare("Experiment", (produces,))

    def add(func: Tuner) -> Tuner:
        if name in TUNERS and TUNERS[name] is not func:
            raise catalog.CatalogError(f"tuner {name!r} registered twice")
        TUNERS[name] = func
        return func

    return add


@renders("Experiment")
def render_tuning(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    tuning = cast(Experiment, loaded.spec).spec.tuning
    if tuning is None:
        return []
    return [desired(loaded, TUNERS[DEFAULT_TUNER](loaded, tuning, ctx))]
