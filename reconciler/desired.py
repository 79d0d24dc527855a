"""A revision's desired state: its loaded repo and the objects its specs render to, with how they are indexed.

A value passed from the loaders (the engine's whole load, the loop's incremental one, the partitioned load
of a repo with broken tenants) to the planner, so that each may keep its own grouping of the objects (by
tenant, by ref) and the planner use it instead of walking every object again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from controlplane.loading.repo import ConfigRepo
from controlplane.plans import DesiredObject
from reconciler.refindex import RefIndex


@dataclass(frozen=True)
class Desired:
    repo: ConfigRepo
    objects: list[DesiredObject]
    revision: str | None
    by_tenant: Mapping[str, Sequence[DesiredObject]] | None = None
    """`objects` by tenant ("" for none), when the loader keeps them so (reconciler.incremental): a loop pass
    that plans some tenants then never walks every object of a new revision."""
    refs: Callable[[], RefIndex] | None = None
    """`objects` by ref, when the loader carries the index from revision to revision (reconciler.incremental);
    asked only when a pass plans an object outside its selected tenants."""
