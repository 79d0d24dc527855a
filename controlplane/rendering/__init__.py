"""Rendering: specs in, desired backend objects out — pure, no I/O.

One module per spec kind registers its renderer (see `registry`); importing
this package loads them all.
"""

from controlplane.rendering import (
    access_policy,
    experiment,
    mlflow_objects,
    mlflow_permissions,
    pipeline,
    quota,
    serving,
    tenant,
)
from controlplane.rendering.context import RenderContext
from controlplane.rendering.registry import render, render_specs

__all__ = [
    "RenderContext",
    "access_policy",
    "experiment",
    "mlflow_objects",
    "mlflow_permissions",
    "pipeline",
    "quota",
    "render",
    "render_specs",
    "serving",
    "tenant",
]
