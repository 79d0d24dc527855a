"""What a shard's lane must look at on its next pass: what changed since *its* last pass, not the replica's.

A replica runs one lane per shard it holds, one after another, with one
incremental loader and one watch cache between them. Both say what changed
since they were last asked, and only one lane asks at a time: the rendered
tenants of a new revision are handed to the first lane that loads it, the
watch's changes to the first lane that reads them. So each lane keeps its own
memory, fed by every load and every read of any lane (`LaneMemories`):

- `rendered`: the tenants rendered again since the lane's last pass (None: all);
- `dirty`: per system, the objects that changed live since then (None: unknown,
  the watch relisted), kept only when they may be the lane's (mlcp's inventory
  records another shard's tenant: not this lane's to plan);
- `last`: the revision and trusted base of the lane's last pass that did not fail;
- `full`: why the next pass must plan every tenant of the lane (new lane, the
  replica relisted its live state, the lane's last pass failed as a whole).

With that, a converged shard's next pass plans only what changed for it, as the
single-replica loop does (reconciler.selection); before, every shard pass
planned every tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from controlplane.inventory import Inventory
from controlplane.plans import ObjectRef
from reconciler.trust import TrustedBase

Dirty = dict[str, frozenset[ObjectRef] | None]


@dataclass
class LaneMemory:
    covers: Callable[[str], bool]
    platform: bool = False
    """The platform lane plans the governance objects of every tenant whose files changed: it hears of them all."""
    full: str | None = "the lane is new"
    last: tuple[str, TrustedBase] | None = None
    rendered: set[str] | None = field(default_factory=set)
    dirty: dict[str, set[ObjectRef] | None] = field(default_factory=dict)

    def loaded(self, rendered: set[str] | None) -> None:
        if rendered is None or self.rendered is None:
            self.rendered = None
        else:
            self.rendered |= rendered if self.platform else {t for t in rendered if self.covers(t)}

    def changed(self, dirty: Mapping[str, frozenset[ObjectRef] | None], inventories: Mapping[str, Inventory]) -> None:
        """Per system, the objects that changed live, and that system's inventory (who mlcp wrote each for)."""
        for system, refs in dirty.items():
            held = self.dirty.setdefault(system, set())
            if refs is None or held is None:
                self.dirty[system] = None
                continue
            inventory = inventories.get(system) or Inventory()
            for ref in refs:
                record = inventory.owner_of(ref)
                if record is None or not record.tenant or self.covers(record.tenant):
                    held.add(ref)

    def take(self) -> tuple[set[str] | None, Dirty]:
        """What changed since the last `take` (the lane's last pass), forgotten here."""
        rendered, dirty = self.rendered, self.dirty
        self.rendered, self.dirty = set(), {}
        return rendered, {system: None if refs is None else frozenset(refs) for system, refs in dirty.items()}


@dataclass
class LaneMemories:
    """The memory of every lane this replica runs, by lane name."""

    lanes: dict[str, LaneMemory] = field(default_factory=dict)

    def of(self, name: str, covers: Callable[[str], bool], platform: bool = False) -> LaneMemory:
        memory = self.lanes.get(name)
        if memory is None or memory.covers is not covers:  # a lane made anew (a shard taken again) starts full
            memory = self.lanes[name] = LaneMemory(covers, platform)
        return memory

    def drop(self, name: str) -> None:
        self.lanes.pop(name, None)

    def loaded(self, rendered: set[str] | None) -> None:
        for memory in self.lanes.values():
            memory.loaded(rendered)

    def changed(self, dirty: Mapping[str, frozenset[ObjectRef] | None], inventories: Mapping[str, Inventory]) -> None:
        for memory in self.lanes.values():
            memory.changed(dirty, inventories)

    def relisted(self, why: str) -> None:
        """Live state was read afresh: the changes since each lane's last pass are unknown, so each plans all."""
        for memory in self.lanes.values():
            memory.full = memory.full or why
