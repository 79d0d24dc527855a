"""Experiment → its tuning run, through the tuning seam: a registry of tuners, one module each.

`Experiment.tuning` describes a search (objective, algorithm, parameters,
trials, the pipeline each trial runs) in terms no controller owns, and names
its tuner (`tuning.tuner`, `katib` by default). A tuner turns the search into
one controller's object: today Katib's `Experiment` (`rendering/katib.py`).
Kubeflow Trainer's OptimizationJob is meant to replace Katib
(kubeflow/trainer#3562); it will be one more module registering a tuner with
`tuner(name, resource)`, declaring the resource it writes, with nothing else
edited (docs/architecture.md, "Tuning"). The MLflow side of an Experiment is
rendered by `mlflow_objects` and `mlflow_permissions`, whatever the tuner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from controlplane.errors import MlcpError
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
"""Tuner name (what `tuning.tuner` says) → its renderer."""
PRODUCES: dict[str, catalog.Resource] = {}
"""Tuner name → the resource it writes (declared as one of the Experiment kind's)."""


def tuner(name: str, produces: catalog.Resource) -> Callable[[Tuner], Tuner]:
    """Register a tuner under `name`, declaring the resource it renders as an Experiment's object."""

    def add(func: Tuner) -> Tuner:
        if name in TUNERS and TUNERS[name] is not func:
            raise catalog.CatalogError(f"tuner {name!r} registered twice")
        catalog.declare("Experiment", (produces,))
        TUNERS[name] = func
        PRODUCES[name] = produces
        return func

    return add


def withdraw(name: str) -> None:
    """Forget a tuner (one a test registered), and its resource unless another tuner writes it too."""
    TUNERS.pop(name, None)
    produces = PRODUCES.pop(name, None)
    if produces is not None and produces not in PRODUCES.values():
        catalog.withdraw("Experiment", (produces,))


@renders("Experiment")
def render_tuning(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    tuning = cast(Experiment, loaded.spec).spec.tuning
    if tuning is None:
        return []
    render = TUNERS.get(tuning.tuner)
    if render is None:  # `mlcp validate` refuses it first (validation.tuners_registered)
        raise MlcpError(f"{loaded.source.path}: no tuner {tuning.tuner!r}", f"use one of: {', '.join(sorted(TUNERS))}")
    return [desired(loaded, render(loaded, tuning, ctx))]
