"""The one interface every live system implements, so the engine never names one.

A backend connects from the operator's settings, reads live state (bulk, not
per object), reviews its planned changes, applies one change at a time, and
keeps mlcp's inventory of what it applied. Adding a system is one new module
implementing this protocol and registering itself (reconciler.backends.registry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from controlplane.inventory import Claim, Inventory
from controlplane.plans import Change, LiveObject, ObjectRef

if TYPE_CHECKING:
    from controlplane.loading.repo import ConfigRepo
    from controlplane.specs.repo_config import RepoConfig
    from reconciler.impersonation import Allowed
    from reconciler.targets import Targets
    from reconciler.trust import TrustedBase


class BackendError(Exception):
    """A live system could not be read or written; the message names the target and the cause."""


@dataclass(frozen=True)
class LiveState:
    """Live objects of one backend that carry mlcp's labels, plus its inventory."""

    objects: dict[ObjectRef, LiveObject]
    inventory: Inventory
    missing_kinds: tuple[str, ...] = ()
    """Kinds whose API is not served (e.g. a CRD not installed): nothing of them can be applied."""
    covers: Callable[[str], bool] | None = None
    """The tenants whose objects it holds (a sharded replica's, `Backend.scope`); None: every tenant. Another
    tenant's desired objects are not planned against it: their absence here says nothing about the system."""


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
    scope: Callable[[str], bool] | None = None
    """For `record_inventory` with shards: whose entries this writer owns, by tenant ("" for objects of no tenant).
    The others' entries are kept as stored (read again, written with a resourceVersion precondition); None: the
    whole inventory is this writer's."""
    only: frozenset[ObjectRef] | None = None
    """For `record_inventory` of a backend with `partial_inventory`: the apply looked at these objects alone (a
    loop pass that planned a few tenants); `refs` names those of them that may be mlcp's, and every inventoried
    object outside them stays as it is (`Inventory.updated`). None: `refs` is every object that may be mlcp's."""


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
    uncertain: bool = False
    """A failed write that may have happened anyway: it was sent and its answer lost (a timeout, a dropped
    connection, a server error). A create that failed so keeps the inventory record made before it was sent,
    so the next pass finds what it may have made as mlcp's, not as a stranger's (docs/security.md)."""


NOT_ATTEMPTED = "not attempted: "
"""How a skipped change that was never attempted says so (the fence refused it: the lease was lost, SIGTERM):
abandoned, not failed; the next pass (or leader) picks it up."""


def was_attempted(outcome: Outcome) -> bool:
    return not (outcome.status is Status.skipped and outcome.message.startswith(NOT_ATTEMPTED))


Expectation = tuple[str, str | None, str | None, str]
"""One thing mlcp.yaml may state about a backend's target: (field, what the repo expects, the operator's
setting, which flag or variable sets it). A repo only states expectations; mlcp never follows one."""


class Watching(Protocol):
    """A running watch that keeps a backend's live state current (stopped with `close`)."""

    def close(self) -> None: ...

    def stats(self) -> tuple[int, int]:
        """(objects, bytes) held: how many, and their estimated size as JSON (metrics)."""
        ...


class Backend(Protocol):
    """A live system mlcp converges (Kubernetes, MLflow): everything the engine needs from one.

    Backends subclass this Protocol explicitly to inherit the defaults of the optional parts (no notes,
    no plan metadata, no review, no watch). The class itself is a `BackendType`: the registry
    (reconciler.backends.registry) holds it, and connects it from the operator's settings only.
    """

    @property
    def system(self) -> str:
        """Name used in object refs (`kubernetes`, `mlflow`)."""
        ...

    @property
    def order(self) -> int:
        """Where its changes go in apply: lower first (the registry before the cluster, so serving never points
        at an alias that has not moved). Deletes run after every create and update, in the same system order."""
        ...

    @property
    def target(self) -> str:
        """Human description of where it points (server URL, tracking URI)."""
        ...

    @property
    def notes(self) -> tuple[str, ...]:
        """Lines for the plan's header about this system (e.g. whether the registry enforces permissions)."""
        return ()

    @property
    def keeps_applied_revision(self) -> bool:
        """Whether mlcp records the last applied revision in this system (with its inventory): while it cannot be
        read, that revision is unknown, and so is the trusted base (basechoice.load_trusted)."""
        return False

    @property
    def record_problems(self) -> tuple[str, ...]:
        """What the last read found wrong with mlcp's own records of this system (an inventory piece edited out of
        band, or missing): evidence of tampering, which the loop logs and counts on every pass until it is repaired.
        Also in `notes`, for the plan's header."""
        return ()

    @property
    def plan_meta(self) -> Mapping[str, Any]:
        """What the plan records about this system (merged into `Plan.meta`)."""
        return {}

    @property
    def requests(self) -> int | None:
        """Requests sent so far (None: not counted)."""
        return None

    def confine(self, repo: ConfigRepo) -> None:
        """Learn the tenants of the revision about to be planned (the namespaces they declare, which a sharded
        replica's live state keeps). Never which identity writes what: the revision is data, and does not choose
        the credentials its own changes are written with (`judge_by`, `entrust`)."""
        return

    def judge_by(self, base: TrustedBase) -> None:
        """Learn the trusted base of the plan about to be reviewed: what only the base can decide in `review`
        (the Kubernetes backend: which tenant keeps a namespace that no record of mlcp gives to anyone, and whose
        deployer writes each tenant's workloads until `entrust` says more)."""
        return

    def entrust(self, allowed: Allowed) -> None:
        """Learn what the authorized plan about to be applied lets tenants become (a new tenant's namespace, a moved
        one, changed people: only by Tenant changes the base's policy allowed), with every lane's share in sight.
        The Kubernetes backend writes each tenant's workloads as the deployer of the namespace the base and these
        give it, and its platform objects only in that namespace, never the one the revision alone names
        (reconciler.impersonation)."""
        return

    def refusal(self, change: Change) -> str | None:
        """Why this backend would refuse `change` before sending anything, from the trusted inputs `judge_by` and
        `entrust` gave it (the Kubernetes backend: a write no confined identity may make, a tenant's platform object
        outside its trusted namespace, a binding of people the trusted Tenant does not give it), or None. Apply
        refuses with it, and the plan shows it as the change's block (reconciler.confinement), in the same words."""
        return None

    def forget(self) -> None:
        """Drop what was cached from earlier reads, so the next `read` asks the system itself (a new term as
        leader: another replica may have written; a full resync: a watch may have missed a change)."""
        return

    def forget_records(self) -> None:
        """Read mlcp's own records (the inventory) again on the next `read`, keeping the live state: another
        writer changed them (a shard this replica just took). Backends that keep nothing apart: `forget`."""
        self.forget()

    def watch(self) -> Watching | None:
        """Start keeping live state current with a watch, so `read` sends no request; None when unsupported."""
        return None

    def scope(self, holds: Callable[[str], bool] | None) -> None:
        """Keep live state only of the tenants `holds` accepts (a sharded replica's), and of no tenant; None: all.
        Which object is whose comes from mlcp's own records, never from the live object. Backends that keep no
        live state between reads ignore it."""
        return

    def changed(self) -> frozenset[ObjectRef] | None:
        """Objects whose live state changed since the last call (a watch's events), so a pass plans only them
        and what changed in git; None when the system cannot tell (then every pass plans all of it)."""
        return None

    def read(self) -> LiveState:
        """Every live object mlcp manages, in as few requests as the system allows."""
        ...

    def review(self, changes: Sequence[Change]) -> list[Change]:
        """Refine this system's planned changes with live data the generic diff lacks; exactly one out per one in.

        Deletes are attributed from mlcp's own records here (never from live objects tenants can edit); the
        MLflow backend resolves which version a promotion targets and blocks it when a metric gate fails.
        """
        return list(changes)

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        """Carry out one create, update or delete."""
        ...

    def current_version(self, ref: ObjectRef) -> str | None:
        """The object's version right now (None when absent), for compare-and-set checks."""
        ...

    def record_inventory(self, refs: frozenset[ObjectRef], options: ApplyOptions) -> None:
        """Persist the objects mlcp has applied in this system, with `options.claims` as their records."""
        ...

    @property
    def partial_inventory(self) -> bool:
        """Whether `record_inventory` honours `ApplyOptions.only` (then apply hands it the planned objects alone,
        not a copy of every inventoried one); a backend that does not is handed the whole set."""
        return False


class BackendType(Protocol):
    """A backend class, as the registry holds it: its name, its place in apply, and how it connects."""

    @property
    def system(self) -> str: ...

    @property
    def order(self) -> int: ...

    def connect(self, targets: Targets) -> Backend | None:
        """The backend for the operator's settings (never the repo's); None when the operator configured none."""
        ...

    def expectations(self, config: RepoConfig, targets: Targets) -> Sequence[Expectation]:
        """What mlcp.yaml states about this backend's target, beside the operator's actual setting."""
        ...
