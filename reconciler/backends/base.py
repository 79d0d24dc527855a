"""The one interface every live system implements, so the planner never special-cases one.

A backend reads live state (bulk, not per object), applies one planned change
at a time, and keeps mlcp's inventory of what it applied. Adding a system is
one new module implementing this protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from controlplane.planning import Claim, Inventory
from controlplane.plans import Change, LiveObject, ObjectRef


class BackendError(Exception):
    """A live system could not be read or written; the message names the target and the cause."""


@dataclass(frozen=True)
class LiveState:
    """Live objects of one backend that carry mlcp's labels, plus its inventory."""

    objects: dict[ObjectRef, LiveObject]
    inventory: Inventory
    missing_kinds: tuple[str, ...] = ()
    """Kinds whose API is not served (e.g. a CRD not installed): nothing of them can be applied."""


@dataclass(frozen=True)
class ApplyOptions:
    dry_run: bool = False
    force_conflicts: bool = False
    field_manager: str = "mlcp"
    revision: str | None = None
    """The config repo revision being applied; recorded with the inventory as the next base."""
    actor: str | None = None
    """Who is applying (the git author of the change), recorded where the system keeps history (MLflow tags)."""
    claims: Mapping[ObjectRef, Claim] = field(default_factory=dict)
    """For `record_inventory`: the spec, tenant and source of what this apply wrote (see `Inventory.updated`)."""


class Status(StrEnum):
    applied = "applied"
    deleted = "deleted"
    unchanged = "unchanged"
    skipped = "skipped"
    failed = "failed"


@dataclass(frozen=True)
class Outcome:
    """What happened to one change."""

    change: Change
    status: Status
    message: str = ""
    version: str | None = None
    after: dict[str, object] | None = field(default=None, compare=False)


class Backend(Protocol):
    """A live system mlcp converges (Kubernetes, MLflow)."""

    @property
    def system(self) -> str:
        """Name used in object refs (`kubernetes`, `mlflow`)."""
        ...

    @property
    def target(self) -> str:
        """Human description of where it points (server URL, tracking URI)."""
        ...

    def read(self) -> LiveState:
        """Every live object mlcp manages, in as few requests as the system allows."""
        ...

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        """Carry out one create, update or delete."""
        ...

    def current_version(self, ref: ObjectRef) -> str | None:
        """The object's version right now (None when absent), for compare-and-set checks."""
        ...

    def record_inventory(self, refs: frozenset[ObjectRef], options: ApplyOptions) -> None:
        """Persist the objects mlcp has applied in this system, with `options.claims` as their records."""
        ...


@runtime_checkable
class Reviewer(Protocol):
    """Optional backend step after planning, for decisions that need live data the generic diff lacks.

    The MLflow backend resolves which version a promotion targets and blocks it
    when a metric gate of that version's run fails. `review` gets the backend's
    own changes, in plan order, and returns exactly one change for each.
    """

    def review(self, changes: Sequence[Change]) -> list[Change]: ...
