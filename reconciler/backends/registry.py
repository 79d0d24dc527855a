"""Which backends exist: each backend module registers its class, and the engine asks here.

The engine never names a concrete backend. A backend module calls `register`
on its class at import; `available` imports every module of this package
once (a package scan, like a plugin directory), so adding a backend is one
new file under `reconciler/backends/`. Two classes claiming one system name
are refused, like lightkube's resource registry refuses a conflicting kind.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import TypeVar

from reconciler.backends.base import BackendType

B = TypeVar("B", bound=BackendType)

_REGISTERED: dict[str, BackendType] = {}
_LOCK = threading.Lock()
_scanned = False


class RegistryConflict(Exception):
    """Two backends claim one system name."""


def register(backend: B) -> B:
    """Make a backend class known by its system name (used as a class decorator)."""
    with _LOCK:
        held = _REGISTERED.get(backend.system)
        if held is not None and held is not backend:
            raise RegistryConflict(f"two backends claim the system {backend.system!r}: {held!r} and {backend!r}")
        _REGISTERED[backend.system] = backend
    return backend


def _scan() -> None:
    """Import every module of this package once, so each backend registers itself."""
    global _scanned  # noqa: PLW0603 - a once-per-process flag
    if _scanned:
        return
    package = importlib.import_module(__package__ or "reconciler.backends")
    for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        importlib.import_module(module.name)
    _scanned = True


def available() -> list[BackendType]:
    """Every registered backend, in apply order (lower `order` first, then by name)."""
    _scan()
    with _LOCK:
        found = list(_REGISTERED.values())
    return sorted(found, key=lambda b: (b.order, b.system))
