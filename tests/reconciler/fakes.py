"""A backend in memory, for unit tests of the engine, apply and the fence: it records what it was asked."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from controlplane.inventory import Inventory
from controlplane.loading.repo import ConfigRepo
from controlplane.plans import Action, Change, LiveObject, ObjectRef, SpecKey
from controlplane.specs.repo_config import RepoConfig
from reconciler.backends.base import ApplyOptions, Backend, BackendError, Expectation, LiveState, Outcome, Status
from reconciler.backends.deadline import Remaining
from reconciler.backends.movers import AliasRights, MoveRight
from reconciler.targets import Targets


@dataclass
class FakeBackend(Backend):
    """Live objects in a dict; every call is appended to `calls`."""

    system: str = "fake"
    order: int = 50
    target: str = "memory://fake"
    objects: dict[ObjectRef, LiveObject] = field(default_factory=dict)
    unreachable: bool = False
    applied: str | None = None
    """The revision its inventory says mlcp last applied (the trusted base when the operator names none)."""
    notes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    remaining: list[Remaining] = field(default_factory=list)
    """The fence's time limits `bounded` was entered with."""
    rights: dict[str, MoveRight] | None = None
    """Who it lets move model aliases, by identity (`alias_rights`); None: it runs without auth (anyone may)."""
    asked: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    """Each `alias_rights` question: the model and the identities."""

    @property
    def plan_meta(self) -> Mapping[str, Any]:
        return self.meta

    @property
    def keeps_applied_revision(self) -> bool:
        return self.system == "kubernetes"  # as the real ones: the cluster keeps it, the registry does not

    def read(self) -> LiveState:
        self.calls.append("read")
        if self.unreachable:
            raise BackendError(f"{self.target} is down")
        return LiveState(dict(self.objects), Inventory(frozenset(self.objects), revision=self.applied))

    def review(self, changes: Sequence[Change]) -> list[Change]:
        self.calls.append("review " + ",".join(c.ref.name for c in changes))
        return [replace(c, reason=f"reviewed by {self.system}") for c in changes]

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        """Records the call and keeps the object (what a later read sees), unless a dry run."""
        self.calls.append(f"apply {change.ref.name}")
        if change.action is Action.delete:
            if not options.dry_run:
                self.objects.pop(change.ref, None)
            return Outcome(change, Status.deleted)
        if not options.dry_run:
            self.objects[change.ref] = LiveObject(change.ref, dict(change.desired or {}), "1")
        return Outcome(change, Status.applied)

    def current_version(self, ref: ObjectRef) -> str | None:
        found = self.objects.get(ref)
        return found.version if found else None

    def record_inventory(self, refs: frozenset[ObjectRef], options: ApplyOptions) -> None:
        self.calls.append("record")
        if options.revision is not None and not options.dry_run:
            self.applied = options.revision

    def confine(self, repo: ConfigRepo) -> None:
        self.calls.append("confine")

    def forget(self) -> None:
        self.calls.append("forget")

    def alias_rights(self, model: str, identities: Collection[str]) -> AliasRights:
        self.asked.append((model, frozenset(identities)))
        if self.rights is None:
            return AliasRights(model, True, {})
        return AliasRights(model, False, {i: self.rights[i] for i in identities if i in self.rights})

    @contextmanager
    def bounded(self, remaining: Remaining) -> Iterator[None]:
        self.remaining.append(remaining)
        self.calls.append("bounded")
        yield


@dataclass
class FakeType:
    """A backend class as the registry holds it, connecting to one given fake (the test inspects it)."""

    backend: FakeBackend

    @property
    def system(self) -> str:
        return self.backend.system

    @property
    def order(self) -> int:
        return self.backend.order

    def connect(self, targets: Targets) -> Backend | None:
        return self.backend

    def expectations(self, config: RepoConfig, targets: Targets) -> Sequence[Expectation]:
        return []


def ref(name: str, system: str = "fake", kind: str = "Thing") -> ObjectRef:
    return ObjectRef(system, "v1", kind, None, name)


def change(name: str, system: str = "fake", action: Action = Action.create, rank: int = 10) -> Change:
    spec, source = SpecKey("Thing", "t", name), f"tenants/t/{name}.yaml"
    return Change(ref(name, system), action, "", spec, "t", source, rank, desired={"name": name})
