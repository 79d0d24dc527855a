"""A revision's desired objects by ref, carried from one revision to the next.

A pass that plans an object outside its selected tenants (an object its tenant
no longer declares, a live change) asks who declares that ref. Indexing a
10,000-tenant revision's 90,000 objects for it took most of a second of a
one-tenant commit's pass; the loop's loader instead derives the next
revision's index from the last one, replacing only the objects that changed
(`replaced`). Identity, not equality: an object is the very one the loader
rendered, so nothing is compared field by field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controlplane.plans import DesiredObject, ObjectRef


@dataclass(frozen=True)
class RefIndex:
    first: dict[ObjectRef, DesiredObject]
    """Each ref's first declaring object (no container per object: a list each woke the garbage collector)."""
    again: dict[ObjectRef, list[DesiredObject]]
    """The few refs declared more than once (two tenants, one namespace): the other objects."""

    @classmethod
    def of(cls, objects: Iterable[DesiredObject]) -> RefIndex:
        index = cls({}, {})
        index._add(objects)
        return index

    def declaring(self, ref: ObjectRef) -> list[DesiredObject]:
        """The objects that declare `ref` (none, one, or several when tenants collide)."""
        found = self.first.get(ref)
        return [] if found is None else [found, *self.again.get(ref, ())]

    def replaced(self, gone: Iterable[DesiredObject], new: Iterable[DesiredObject]) -> RefIndex:
        """This index with the objects `gone` taken out and `new` put in (a new index: this one is unchanged)."""
        index = RefIndex(dict(self.first), {ref: list(objs) for ref, objs in self.again.items()})
        for obj in gone:
            index._remove(obj)
        index._add(new)
        return index

    def _add(self, objects: Iterable[DesiredObject]) -> None:
        first = self.first
        for obj in objects:
            if first.setdefault(obj.ref, obj) is not obj:
                self.again.setdefault(obj.ref, []).append(obj)

    def _remove(self, obj: DesiredObject) -> None:
        ref = obj.ref
        others = self.again.get(ref)
        if self.first.get(ref) is obj:
            if others:
                self.first[ref] = others.pop(0)
            else:
                del self.first[ref]
        elif others is not None:
            others[:] = [o for o in others if o is not obj]
        if others is not None and not others:
            del self.again[ref]
