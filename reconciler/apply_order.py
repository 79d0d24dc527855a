"""Which writes of an apply wait for which: a namespace's ranks are ordered, different namespaces are not.

Apply writes lower ranks first (a Namespace, then its ServiceAccounts and RBAC,
then what runs in it), deletes in reverse, and each system in its backend's
order. Ordering every rank of the whole plan behind the one before it (a
barrier per rank) makes a first apply of 10,000 tenants wait at every rank for
its slowest write, and keeps tenant 2's Namespace from being written while
tenant 1's RBAC is. What the order protects is per namespace: an object is
written after its own Namespace and the lower ranks in that namespace (its
ServiceAccounts, Roles and RoleBindings). So each namespace is a lane, and a
lane's next rank starts as soon as that lane's previous rank is done, whatever
the other lanes are doing.

Everything else stays a barrier, as before: a cluster-scoped object other than
a Namespace (the deployer ClusterRole the tenants' RoleBindings name), every
object of a system without namespaces (MLflow), and every delete (deletes keep
the whole reverse order). A group of one rank that holds any of these waits for
everything before it, and everything after it waits for the whole group.

`Schedule` is data: the changes in the order their intents are written (rank
groups in apply order) and, for each, the one gate it waits for; a gate opens
when all its members are done. `Gates` tracks them while apply runs.

A gate opens when the writes before it are done, whether they worked or not.
Three writes must not outrun a write that did not work, and `prerequisite` says
which: the serving change of a promotion follows its alias move (they apply
together or not at all: serving never points at a version the alias was not
moved to), nothing is written into a namespace whose create did not work (it
may not exist, or be someone else's that appeared since the plan), and no
grant is made on an experiment whose create did not work (the name may be
someone else's experiment). The write that must come first is always in an
earlier gate, so its outcome is known when the one that follows starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

from controlplane.plans import Action, Change, ObjectRef
from controlplane.rendering.mlflow_permissions import KINDS as GRANTS
from controlplane.rendering.mlflow_permissions import GrantRef
from controlplane.rendering.serving import served_alias

NO_GATE = -1
NAMESPACE = "Namespace"


@dataclass(frozen=True)
class Schedule:
    changes: tuple[Change, ...]
    """In the order their intents are written and their writes may start: rank groups in apply order."""
    waits: tuple[int, ...]
    """Per change, the gate it waits for (NO_GATE: it may start at once)."""
    members: tuple[tuple[int, ...], ...]
    """Per change, the gates it is a member of (each opens when all its members are done)."""
    sizes: tuple[int, ...]
    """Per gate, how many members it has."""


def _groups(changes: Sequence[Change], order: Mapping[str, int]) -> list[list[Change]]:
    """Groups of one system, direction and rank, in the order they must run (`order`: each system's place)."""
    last = max(order.values(), default=0) + 1

    def key(c: Change) -> tuple[int, int, int]:
        deleting = c.action is Action.delete
        return (1 if deleting else 0, order.get(c.ref.system, last), -c.rank if deleting else c.rank)

    ordered = sorted(changes, key=key)
    return [list(group) for _, group in groupby(ordered, key=key)]


def lane(change: Change) -> str | None:
    """The namespace a create or update belongs to (a Namespace's own name), or None: it is a barrier."""
    if change.action is Action.delete:
        return None
    ref = change.ref
    if ref.namespace:
        return ref.namespace
    if ref.kind == NAMESPACE and ref.api_version == "v1" and ref.system == "kubernetes":
        return ref.name
    return None


@dataclass(frozen=True)
class Prerequisite:
    """A pending write that another must not outrun: the other is written only if this one was applied."""

    ref: ObjectRef
    what: str
    """What it is, for the message of the write not made (`the alias move m@production`)."""
    rule: str
    """Why the other waits for it to have worked."""


def prerequisite(change: Change, pending: Mapping[ObjectRef, Change]) -> Prerequisite | None:
    """The write in `pending` (this apply's changes by object) that `change` may only follow once it worked."""
    if change.action is Action.delete:
        return None
    ref = change.ref
    alias = served_alias(change.desired or {})
    if alias is not None and _pending(pending, alias, moves=True):
        rule = f"the alias move and the serving change of {change.spec} apply together or not at all"
        return Prerequisite(alias, f"the alias move {alias.name}", rule)
    if ref.system == "kubernetes" and ref.namespace:
        namespace = ObjectRef("kubernetes", "v1", NAMESPACE, None, ref.namespace)
        if _pending(pending, namespace, moves=False):
            rule = "nothing is written into a namespace mlcp did not make"
            return Prerequisite(namespace, f"namespace {ref.namespace}", rule)
    experiment = GrantRef.of(ref).experiment() if ref.kind in GRANTS else None
    if experiment is not None and _pending(pending, experiment, moves=False):
        rule = "no grant is made on an experiment mlcp did not make"
        return Prerequisite(experiment, f"experiment {experiment.name!r}", rule)
    return None


def _pending(pending: Mapping[ObjectRef, Change], ref: ObjectRef, *, moves: bool) -> bool:
    """Whether this apply creates `ref` (or, with `moves`, creates or updates it)."""
    found = pending.get(ref)
    if found is None:
        return False
    return found.action is Action.create or (moves and found.action is Action.update)


def schedule(changes: Sequence[Change], order: Mapping[str, int]) -> Schedule:
    """The gates of `changes`: per lane, each rank group waits for the lane's previous one; a barrier group
    waits for everything since the previous barrier (inclusive), and the lanes after it wait for it."""
    flat: list[Change] = []
    waits: list[int] = []
    members: list[list[int]] = []
    sizes: list[int] = []

    def gate(indices: Sequence[int]) -> int:
        if not indices:
            return NO_GATE
        sizes.append(len(indices))
        for i in indices:
            members[i].append(len(sizes) - 1)
        return len(sizes) - 1

    barrier = NO_GATE  # the last barrier group's gate: what a lane's first group after it waits for
    since: list[int] = []  # every change since the last barrier group began (inclusive): what the next one awaits
    lanes: dict[str, int] = {}  # lane → the gate of its last group since the last barrier
    for group in _groups(changes, order):
        start = len(flat)
        flat.extend(group)
        members.extend([] for _ in group)
        waits.extend([NO_GATE] * len(group))
        indices = range(start, start + len(group))
        if any(lane(c) is None for c in group):
            waits[start:] = [gate(since)] * len(group)
            barrier = gate(indices)
            since = list(indices)
            lanes = {}
            continue
        by_lane: dict[str, list[int]] = {}
        for i, change in zip(indices, group, strict=True):
            by_lane.setdefault(str(lane(change)), []).append(i)
        for name, mine in by_lane.items():
            before = lanes.get(name, barrier)
            for i in mine:
                waits[i] = before
            lanes[name] = gate(mine)
        since.extend(indices)
    return Schedule(tuple(flat), tuple(waits), tuple(tuple(m) for m in members), tuple(sizes))


class Gates:
    """The gates of one schedule while apply runs: which changes may start now."""

    def __init__(self, plan: Schedule) -> None:
        self._plan = plan
        self._left = list(plan.sizes)
        self._held: dict[int, list[int]] = {}
        """Gate → the changes waiting for it."""
        self.ready: list[int] = [i for i, wait in enumerate(plan.waits) if wait == NO_GATE]
        for i, wait in enumerate(plan.waits):
            if wait != NO_GATE:
                self._held.setdefault(wait, []).append(i)

    def done(self, index: int) -> list[int]:
        """Change `index` finished: the changes that may start now (their gate opened)."""
        opened: list[int] = []
        for g in self._plan.members[index]:
            self._left[g] -= 1
            if self._left[g] == 0:
                opened += self._held.pop(g, [])
        return opened
