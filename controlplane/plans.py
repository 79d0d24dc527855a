"""The Plan: a reviewed, serializable value that apply consumes as-is.

Like Terraform's plan, it records what it was built from (revision, the live
versions it compared against) so a saved plan can be refused when the world
moved since review. It holds no clients and does no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

from controlplane.jsonfields import TEXT, kind_of, typed

PLAN_FORMAT = 1
_T = TypeVar("_T")


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


@dataclass(frozen=True, slots=True)
class EditableFields:
    """The only fields of an object its controller lets an update change; any other change needs a new object."""

    paths: tuple[tuple[str, ...], ...]
    """Each a field or the root of fields (`("metadata",)`) an update may change."""
    why: str
    """Who refuses the other changes, and what to do instead (shown where the plan blocks one)."""

    def frozen(self, diffs: tuple[FieldDiff, ...]) -> list[FieldDiff]:
        """The differences an update may not make."""
        return [d for d in diffs if not any(d.path[: len(p)] == p for p in self.paths)]


DEFAULT_DENY = "default-deny"
UNVERIFIED = " (unverified)"
"""Marks an actor of a decision who only claims to be one (a commit's author field) where signatures are required:
the authorizer names them beside the verified signers of a refused change (rule `requireSignedCommits`)."""
VERIFIED_IDENTITIES = "verified"
"""`Plan.meta["identities"]` when the trusted base requires signed commits: the decisions' actors are then the
principals of verified signatures (reconciler.engine); otherwise `claimed`."""


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
        """A decision as `to_dict` writes it; ValueError naming the field of another shape."""
        return cls(
            typed(data, "allowed", bool),
            typed(data, "rule", str),
            typed(data, "reason", str),
            _strings(data, "actors"),
            _strings(data, "approvers"),
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
    `reconciler.settling.settled`; a settled plan carries none."""

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
        """A change as `to_dict` writes it; ValueError naming the field of another shape."""
        action = typed(data, "action", str)
        if action not in {a.value for a in Action}:
            raise ValueError(f"action is {action!r}, not one of {', '.join(a.value for a in Action)}")
        decision = typed(data, "decision", (dict, type(None)), None)
        fallback = typed(data, "fallback", (dict, type(None)), None)
        return cls(
            ref=_object(data, "ref", _ref),
            action=Action(action),
            reason=typed(data, "reason", str),
            spec=_spec(typed(data, "spec", TEXT, None)),
            tenant=typed(data, "tenant", TEXT, None),
            source=typed(data, "source", TEXT, None),
            rank=typed(data, "rank", int),
            diffs=_objects(data, "diffs", _diff),
            desired=typed(data, "desired", (dict, type(None)), None),
            live_version=typed(data, "liveVersion", TEXT, None),
            blocked=typed(data, "blocked", TEXT, None),
            decision=_object(data, "decision", Decision.from_dict) if decision else None,
            drift=typed(data, "drift", TEXT, None),
            fallback=_object(data, "fallback", cls.from_dict) if fallback else None,
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
    def verified_identities(self) -> bool:
        """Whether its decisions' actors are signers' principals, verified against the trusted base's allowed
        signers (requireSignedCommits), rather than the author fields anyone writes into a commit."""
        return self.meta.get("identities") == VERIFIED_IDENTITIES

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
    def from_dict(cls, data: Any) -> Plan:
        """A plan as `to_dict` writes it. A saved plan is anyone's to edit, and comparing it with a fresh plan
        relies on the types: every field is checked, never converted; ValueError naming the first one of another
        shape (`changes[3].ref.name is a list, not a string`)."""
        if not isinstance(data, dict):
            raise ValueError(f"a plan is a JSON object, not {kind_of(data)}")
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"unsupported plan format {data.get('format')!r} (expected {PLAN_FORMAT})")
        return cls(
            changes=_objects(data, "changes", Change.from_dict, required=True),
            revision=typed(data, "revision", TEXT, None),
            repo=typed(data, "repo", TEXT, None),
            systems=_objects(data, "systems", _system),
            prune=typed(data, "prune", bool, False),
            inventory_version=typed(data, "inventoryVersion", TEXT, None),
            meta=typed(data, "meta", dict, {}),
        )


def _strings(data: dict[str, Any], key: str, *, required: bool = False) -> tuple[str, ...]:
    values = typed(data, key, list) if required else typed(data, key, list, [])
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise ValueError(f"{key}[{index}] is {kind_of(value)}, not a string")
    return tuple(values)


def _present(data: dict[str, Any], key: str) -> Any:
    """`data[key]`, any JSON value."""
    if key not in data:
        raise ValueError(f"{key} is missing")
    return data[key]


def _object(data: dict[str, Any], key: str, parse: Callable[[dict[str, Any]], _T]) -> _T:
    """`parse(data[key])`, a JSON object; its errors named under `key`."""
    return _parsed(key, typed(data, key, dict), parse)


def _objects(
    data: dict[str, Any], key: str, parse: Callable[[dict[str, Any]], _T], *, required: bool = False
) -> tuple[_T, ...]:
    """`parse` of each JSON object in the list `data[key]`; its errors named under `key[i]`."""
    items = typed(data, key, list) if required else typed(data, key, list, [])
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{key}[{index}] is {kind_of(item)}, not an object")
    return tuple(_parsed(f"{key}[{index}]", item, parse) for index, item in enumerate(items))


def _parsed(where: str, value: dict[str, Any], parse: Callable[[dict[str, Any]], _T]) -> _T:
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"{where}.{exc}") from None


def _spec(text: str | None) -> SpecKey | None:
    try:
        return spec_key(text)
    except ValueError as exc:
        raise ValueError(f"spec: {exc}") from None


def _ref(data: dict[str, Any]) -> ObjectRef:
    return ObjectRef(
        typed(data, "system", str),
        typed(data, "apiVersion", str),
        typed(data, "kind", str),
        typed(data, "namespace", TEXT, None),
        typed(data, "name", str),
    )


def _diff(data: dict[str, Any]) -> FieldDiff:
    return FieldDiff(_strings(data, "path", required=True), _present(data, "old"), _present(data, "new"))


def _system(data: dict[str, Any]) -> SystemStatus:
    return SystemStatus(
        typed(data, "system", str),
        typed(data, "target", str),
        typed(data, "reachable", bool),
        typed(data, "error", TEXT, None),
        _strings(data, "notes"),
    )
