"""A replica's memory between passes: when the next pass must plan every tenant, and which tenants converged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import cast

from controlplane.inventory import Inventory
from controlplane.plans import Action, Change, ObjectRef, Plan
from reconciler import partition
from reconciler.backends.base import Backend, LiveState
from reconciler.passmemory import PassMemory
from reconciler.selection import Selection
from reconciler.state import TenantRevisions
from reconciler.trust import TrustedBase


@dataclass
class _Lane:
    name: str = ""
    covers: Callable[[str], bool] = lambda _key: True
    platform: bool = True

    @property
    def sharded(self) -> bool:
        return bool(self.name)


@dataclass
class _Backend:
    target: str = "fake"
    notes: list[str] = field(default_factory=list)
    forgotten: int = 0

    def forget(self) -> None:
        self.forgotten += 1

    def changed(self) -> frozenset[ObjectRef]:
        return frozenset()

    def read(self) -> LiveState:
        return LiveState({}, Inventory())


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


PARTS = cast(partition.Partitioned, SimpleNamespace(broken={}))
BASE = cast(TrustedBase, SimpleNamespace(revision="base"))


def _select(memory: PassMemory, backend: _Backend, now: float, lane: _Lane | None = None) -> Selection:
    backends = cast(dict[str, Backend], {"fake": backend})
    selection, _, _ = memory.select(
        PARTS,
        backends,
        TenantRevisions({}),
        None,
        now,
        lane or _Lane(),
        resync=300.0,
        trusted_base=None,
        backing_off=(),
    )
    return selection


def test_a_new_memory_plans_everything_and_reads_afresh() -> None:
    memory, backend = PassMemory(_Clock()), _Backend()
    selection = _select(memory, backend, 100.0)
    assert selection.full and selection.reason == "full: the controller started"
    assert backend.forgotten == 1, "a full pass does not trust the watch's events: the backend reads again"


def test_the_resync_interval_makes_a_pass_full_again_counted_from_the_last_full_pass() -> None:
    clock = _Clock()
    memory, backend = PassMemory(clock), _Backend()
    memory.remember("rev-1", BASE, Selection.everything("the controller started"), _Lane())
    assert memory.full is None and memory.last_full == 100.0 and memory.last == ("rev-1", BASE)
    resynced = _select(memory, backend, 400.0)
    assert resynced.full and resynced.reason == "full: the resync interval"


def test_a_failed_pass_or_a_new_term_makes_the_next_one_full() -> None:
    memory = PassMemory(_Clock())
    memory.remember("rev-1", BASE, Selection.everything("x"), _Lane())
    memory.failed(_Lane(), "the last pass failed (apply)")
    assert _select(memory, _Backend(), 101.0).reason == "full: the last pass failed (apply)"
    memory.remember("rev-1", BASE, Selection.everything("x"), _Lane())
    memory.new_term()
    assert _select(memory, _Backend(), 102.0).reason == "full: a new leadership term"


def test_a_shard_lanes_failure_is_its_own() -> None:
    memory, shard = PassMemory(_Clock()), _Lane(name="3", platform=False)
    memory.remember("rev-1", BASE, Selection.everything("x"), _Lane())
    memory.remember("rev-1", BASE, Selection.only(["a"]), shard)
    memory.failed(shard, "the last pass failed (plan)")
    assert memory.of(shard).full == "the last pass failed (plan)"
    assert memory.full is None, "the single lane's memory is untouched"


def _change(tenant: str) -> Change:
    ref = ObjectRef("kubernetes", "v1", "ServiceAccount", tenant, "deployer")
    return Change(ref, Action.create, "missing", None, tenant, None, 20)


def test_converged_tenants_are_the_planned_and_the_untouched_ones_but_never_the_unsettled() -> None:
    memory = PassMemory(_Clock())
    memory.remember("rev-1", BASE, Selection.everything("x"), _Lane())
    plan = Plan((_change("a"), _change("b")), revision="rev-2")
    state = TenantRevisions({"a": "rev-1", "c": "rev-1", "d": "rev-0"})
    selection = Selection.only(["a", "b"])
    got = memory.converged(plan, state, _Lane(), selection, unsettled=["b"], complete=True)
    assert got == {"a": "rev-2", "c": "rev-2", partition.PLATFORM: "rev-2"}, (
        "b failed or was held; c was not planned and had converged to the last revision; d lagged behind it"
    )
    assert memory.converged(plan, state, _Lane(), selection, unsettled=[], complete=False) == {}
