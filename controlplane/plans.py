"""The Plan: a reviewed, serializable value that apply consumes as-is.

Like Terraform's plan, it records what it was built from (revision, the live
versions it compared against) so a saved plan can be refused when the world
moved since review. It holds no clients and does no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

PLAN_FORMAT = 1


class Action(StrEnum):
    """Terraform's tiny action set: `+` create, `~` update, `-` delete, and no-op."""

    create = "create"
    update = "update"
    delete = "delete"
    noop = "no-op"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "no-op": " "}[self.value]


class SpecKey(NamedTuple):
    """Identity of a spec: kind, tenant (None for cluster-wide kinds) and name.

    Shown and saved as `Kind/tenant/name` (`Kind/name` without a tenant), the form plans have always used.
    """

    kind: str
    tenant: str | None
    name: str

    def __str__(self) -> str:
        scope = f"{self.tenant}/" if self.tenant else ""
        return f"{self.kind}/{scope}{self.name}"

    @classmethod
    def parse(cls, text: str) -> SpecKey:
        """`Kind/tenant/name` or `Kind/name`, as `str` writes them (a saved plan, an inventory record)."""
        parts = text.split("/", 2)
        if len(parts) == 3:
            return cls(parts[0], parts[1], parts[2])
        if len(parts) == 2:
            return cls(parts[0], None, parts[1])
        raise ValueError(f"{text!r} is not a spec key (Kind/tenant/name or Kind/name)")


def spec_text(key: SpecKey | None) -> str | None:
    """A key as plans, inventories and audit records write it (None stays None)."""
    return None if key is None else str(key)


def spec_key(text: str | None) -> SpecKey | None:
    """A written key back as a value (None stays None)."""
    return None if not text else SpecKey.parse(text)


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """Identity of a managed object in one backend system (`kubernetes`, `mlflow`)."""

    system: str
    api_version: str
    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        scope = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{scope}{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObjectRef:
        return cls(data["system"], data["apiVersion"], data["kind"], data.get("namespace"), data["name"])


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One managed field that differs: `old` is live, `new` is desired (None when absent)."""

    path: tuple[str, ...]
    old: Any
    new: Any

    @property
    def dotted(self) -> str:
        """`spec.hard["requests.cpu"]`: readable, and unambiguous for keys holding dots."""
        out = ""
        for part in self.path:
            out += f'["{part}"]' if ("." in part or "/" in part) else (f".{part}" if out else part)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"path": list(self.path), "field": self.dotted, "old": self.old, "new": self.new}


DEFAULT_DENY = "default-deny"


@dataclass(frozen=True, slots=True)
class Decision:
    """The authorization of one change: allow or deny, the deciding rule (or `default-deny`), and who asked."""

    allowed: bool
    rule: str
    reason: str
    actors: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    """For a promotion: the approvals that counted (distinct eligible approvers, never an author)."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "allowed": self.allowed,
            "rule": self.rule,
            "reason": self.reason,
            "actors": list(self.actors),
        }
        if self.approvers:
            data["approvers"] = list(self.approvers)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        return cls(
            bool(data["allowed"]),
            str(data["rule"]),
            str(data["reason"]),
            tuple(data.get("actors", ())),
            tuple(data.get("approvers", ())),
        )


@dataclass(frozen=True, slots=True)
class DesiredObject:
    """An object a spec renders to, with where it came from."""

    ref: ObjectRef
    manifest: dict[str, Any]
    spec: SpecKey
    tenant: str | None
    source: str
    rank: int


@dataclass(frozen=True, slots=True)
class LiveObject:
    """An object as read from a backend, with the version used for compare-and-set."""

    ref: ObjectRef
    manifest: dict[str, Any]
    version: str


@dataclass(frozen=True, slots=True)
class Change:
    """What the plan will do to one object, and why."""

    ref: ObjectRef
    action: Action
    reason: str
    spec: SpecKey | None
    tenant: str | None
    source: str | None
    rank: int
    diffs: tuple[FieldDiff, ...] = ()
    desired: dict[str, Any] | None = None
    live_version: str | None = None
    blocked: str | None = None
    """Why the change may not be applied (a failing gate, a protected tenant); None if it may."""
    decision: Decision | None = None
    """Who changed the spec behind this change, and whether the policy allows it (None: not authorized yet)."""
    drift: str | None = None
    """Set when the live object was changed outside mlcp away from what mlcp last wrote: what the system records
    of that change (who, when). Applying the change heals the drift."""
    fallback: Change | None = None
    """What to write instead when this change may not go ahead (blocked, denied, held): a model alias moved
    outside mlcp goes back to the version mlcp last set. Judged by the authorizer with the change, swapped in by
    `reconciler.authorizing.settled`; a settled plan carries none."""

    def to_dict(self) -> dict[str, Any]:
        data = self._fields()
        if self.drift is not None:
            data["drift"] = self.drift
        if self.fallback is not None:
            data["fallback"] = self.fallback.to_dict()
        return data

    def _fields(self) -> dict[str, Any]:
        return {
            "ref": self.ref.to_dict(),
            "action": self.action.value,
            "reason": self.reason,
            "spec": spec_text(self.spec),
            "tenant": self.tenant,
            "source": self.source,
            "rank": self.rank,
            "diffs": [d.to_dict() for d in self.diffs],
            "desired": self.desired,
            "liveVersion": self.live_version,
            "blocked": self.blocked,
            "decision": self.decision.to_dict() if self.decision else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        return cls(
            ref=ObjectRef.from_dict(data["ref"]),
            action=Action(data["action"]),
            reason=data["reason"],
            spec=spec_key(data.get("spec")),
            tenant=data.get("tenant"),
            source=data.get("source"),
            rank=data["rank"],
            diffs=tuple(FieldDiff(tuple(d["path"]), d["old"], d["new"]) for d in data.get("diffs", [])),
            desired=data.get("desired"),
            live_version=data.get("liveVersion"),
            blocked=data.get("blocked"),
            decision=Decision.from_dict(data["decision"]) if data.get("decision") else None,
            drift=data.get("drift"),
            fallback=cls.from_dict(data["fallback"]) if data.get("fallback") else None,
        )


@dataclass(frozen=True, slots=True)
class SystemStatus:
    """Whether a backend's live state could be read; an unknown system plans nothing."""

    system: str
    target: str
    reachable: bool
    error: str | None = None
    notes: tuple[str, ...] = ()
    """Facts about the system worth a line in the plan (e.g. whether the registry enforces permissions)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Every change across all systems for one revision of the config repo."""

    changes: tuple[Change, ...]
    revision: str | None = None
    repo: str | None = None
    systems: tuple[SystemStatus, ...] = ()
    prune: bool = False
    inventory_version: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def pending(self) -> list[Change]:
        """Changes that would write something (everything but no-ops)."""
        return [c for c in self.changes if c.action is not Action.noop]

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for change in self.changes:
            out[change.action.value] += 1
        out["blocked"] = sum(1 for c in self.changes if c.blocked)
        return out

    def to_dict(self) -> dict[str, Any]:
        return self.envelope([c.to_dict() for c in self.changes])

    def envelope(self, changes: list[Any]) -> dict[str, Any]:
        """The plan's document with `changes` in place of its own (views stream the changes one at a time)."""
        return {
            "format": PLAN_FORMAT,
            "revision": self.revision,
            "repo": self.repo,
            "prune": self.prune,
            "inventoryVersion": self.inventory_version,
            "systems": [
                {"system": s.system, "target": s.target, "reachable": s.reachable, "error": s.error}
                | ({"notes": list(s.notes)} if s.notes else {})
                for s in self.systems
            ],
            "summary": self.counts(),
            "changes": changes,
            "meta": self.meta,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"unsupported plan format {data.get('format')!r} (expected {PLAN_FORMAT})")
        return cls(
            changes=tuple(Change.from_dict(c) for c in data["changes"]),
            revision=data.get("revision"),
            repo=data.get("repo"),
            systems=tuple(SystemStatus(**{**s, "notes": tuple(s.get("notes", ()))}) for s in data.get("systems", [])),
            prune=bool(data.get("prune")),
            inventory_version=data.get("inventoryVersion"),
            meta=data.get("meta", {}),
        )
