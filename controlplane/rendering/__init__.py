"""Rendering: specs in, desired backend objects out — pure, no I/O.

One module per spec kind registers its renderer and declares what it produces
(see `registry` and `catalog`); importing this package imports every module in
it, so a new kind's renderer is found without editing a list.
"""

import importlib
import pkgutil

from controlplane.rendering.context import RenderContext
from controlplane.rendering.registry import render, render_specs

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["RenderContext", "render", "render_specs"]
