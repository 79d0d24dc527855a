"""One kind's cached objects: how a list, a watch event, or this process's own write or delete changes them.

The watch cache (kubernetes_watch) runs a list-then-watch per kind and asks this for what it holds; the rules of
what to keep live here, apart from the threads and requests that feed them. An event or a write's answer is kept
only when it is newer than what is held (resourceVersions compared as integers, the order etcd gives and the
watch delivers), so a late answer never puts back an object the watch has already seen deleted. What changed is
recorded for the pass (`changed`), and when it cannot be known (a relist replaced everything) the kind says so
(`lost`); a widened scope's relist is compared with what is held, so its changes are recorded rather than lost.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from controlplane import digits
from controlplane.plans import LiveObject, ObjectRef
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_objects import ResourceType, live_object
from reconciler.backends.kubernetes_scope import EVERYTHING, Scope


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


@dataclass
class KindCache:
    """One kind's objects and the resourceVersion to watch from."""

    rtype: ResourceType
    objects: dict[ObjectRef, LiveObject] = field(default_factory=dict)
    version: str = ""
    synced: bool = False
    missing: bool = False
    changed: set[ObjectRef] = field(default_factory=set)
    """Objects whose cached state changed by an event since the last `take_changed`."""
    lost: bool = True
    """Whether changes went unrecorded (a relist since the last `take_changed`)."""
    began: int = 0
    """Lists begun: the number of the list in progress while `listing`."""
    done: int = 0
    """The number of the last list that completed."""
    listing: bool = False
    failing: bool = False
    """The last list or watch failed, and the kind lists again after a backoff."""
    wanted: bool = False
    """A reader asked for a fresh list (`WatchCache.fresh`): the watch stops and the kind lists again."""
    pages: int = 0
    """Requests the last completed list took."""
    wake: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    """Set to end a wait early (a reader wants a list, or the cache closes)."""
    diffing: bool = False
    """The next list is compared with the objects still held (a widened scope): changes recorded, not lost."""
    whole: bool = False
    """The objects held are a complete state of the kind as of some moment (not dropped for a list to come)."""

    def relisted(self, objects: list[LiveObject] | None, version: str, pages: int = 1) -> None:
        listed = {obj.ref: obj for obj in objects or []}
        if self.diffing:
            held = self.objects
            self.changed |= {r for r, o in listed.items() if (h := held.get(r)) is None or h.version != o.version}
            self.changed |= held.keys() - listed.keys()
        else:
            self.lost = True
        self.objects, self.diffing, self.whole = listed, False, True
        self.version, self.synced, self.missing = version, True, objects is None
        self.done, self.listing, self.failing, self.pages = self.began, False, False, pages

    def widen(self) -> None:
        """List again for a wider scope, keeping what is held until the list is in (`diffing`); not synced until
        then."""
        self.diffing = self.diffing or self.whole
        self.wanted, self.synced = True, False
        self.wake.set()

    def drop(self, scope: Scope) -> None:
        """Let go of the objects `scope` no longer keeps."""
        gone = [ref for ref in self.objects if not scope.keeps(ref)]
        for ref in gone:
            del self.objects[ref]
        self.changed.difference_update(gone)

    def want(self) -> int:
        """Ask for a list that begins no earlier than now (or the one in progress); the number of that list.

        What the kind held is dropped at once when it must list again: the reader reads the new list, and the
        old copy held beside it would double the live state at a full pass."""
        if self.listing:
            return self.began
        if not self.wanted:
            self.wanted, self.synced, self.objects, self.diffing, self.whole = True, False, {}, False, False
            self.wake.set()
        return self.began + 1

    def event(self, kind: str, item: dict[str, Any], scope: Scope = EVERYTHING) -> None:
        """Apply one watch event (ignored when `scope` does not keep its object); Gone for 410, BackendError for
        other ERROR events."""
        if kind == "ERROR":
            if item.get("code") == 410:
                raise Gone(str(item.get("message", "")))
            raise BackendError(f"watching {self.rtype.plural}: {item.get('message') or item}")
        self.version = str((item.get("metadata") or {}).get("resourceVersion") or self.version)
        if kind == "BOOKMARK" or not scope.keeps_item(self.rtype.api_version, self.rtype.kind, item):
            return
        obj = live_object(self.rtype, item)
        held = self.objects.get(obj.ref)
        if kind == "DELETED":
            if self.objects.pop(obj.ref, None) is not None:
                self.changed.add(obj.ref)
        else:
            self.objects[obj.ref] = obj
            if held is None or held.version != obj.version:  # the same version is the echo of our own write
                self.changed.add(obj.ref)

    def written(self, item: dict[str, Any]) -> None:
        """An object this process wrote, as the server answered: kept only when newer than what the watch told.

        With nothing held, the watch's own position (`version`) is what the answer is compared with: the cache
        has applied every event up to it, so an answer no newer than that names an object the cache would hold
        if it still existed: it was deleted (or left the selector) after the write, by an event already applied
        or before the list the cache holds. Putting it back would hide that deletion from every pass until the
        resync."""
        obj = live_object(self.rtype, item)
        held = self.objects.get(obj.ref)
        if _newer(obj.version, held.version if held is not None else self.version):
            self.objects[obj.ref] = obj

    def deleted(self, ref: ObjectRef, version: str) -> None:
        """An object this process deleted, at `version` (the one it removed): dropped unless what is held is
        newer, as the watch may already have delivered the deletion and a new object under the same name."""
        held = self.objects.get(ref)
        if held is not None and (held.version == version or _newer(version, held.version)):
            del self.objects[ref]


def _newer(version: str, than: str) -> bool:
    """resourceVersions are opaque, but etcd's are integers, ordered as the watch delivers them; anything else
    is not trusted over the watch (which delivers the same state moments later)."""
    new, old = digits.number(version, 30), digits.number(than, 30)
    return new is not None and old is not None and new > old
