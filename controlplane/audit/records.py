"""The audit record: one value per attempted change, the unit the hash chain protects.

A record says who (git actors, and which of them a verified signature backs), what (spec, target object, action,
field diff, before/after digests), why it was or was not allowed (decision and
rule) and what happened (result, error). Records are written once and never
rewritten, so the value is frozen; `seq`, `prev` and `hash` are assigned by the
store when it seals the record into the chain (see `chain`).

A write is recorded twice: an intent (`result: pending`) before it, and an
outcome naming that intent (`intent: SEQ`) after it, so a writer that dies in
between leaves a visible open intent, which the next writer closes (result
`interrupted`; see `journal`). Changes that write nothing (denied, blocked) get
one record.

Decisions come from the authorizer (`controlplane.plans.Decision`, carried by
each planned change); a change nobody decided on is recorded as allowed by the
rule `no-policy-yet`, so the log never claims a check that did not happen.
"""

from __future__ import annotations

import hashlib
import json
import operator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from controlplane.jsonfields import TEXT, kind_of, typed
from controlplane.plans import UNVERIFIED, Decision

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
NO_POLICY_RULE = "no-policy-yet"
CLAIMED = " (claimed)"
"""How readers mark an actor whom no verified signature backs."""


class AuditError(Exception):
    """The audit log cannot be read or written; the message names the file and line."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class Verdict(StrEnum):
    """The decision recorded for a change: allowed, denied, or no decision was taken."""

    allow = "allow"
    deny = "deny"
    none = "none"


class Result(StrEnum):
    """What happened: the backend statuses, plus `denied` for changes a policy refused."""

    applied = "applied"
    deleted = "deleted"
    unchanged = "unchanged"
    skipped = "skipped"
    failed = "failed"
    denied = "denied"
    pending = "pending"
    """An intent: the write is about to be sent; its outcome record follows (and names it)."""
    interrupted = "interrupted"
    """An intent that got no outcome (the writer died, or its log failed), closed by the next writer."""


DEFAULT_DECISION = Decision(allowed=True, rule=NO_POLICY_RULE, reason="no access policy decided this change")


_LEAVES = frozenset({str, int, bool, type(None)})
"""Exact types that hold no float: most of a record's values, passed over with one set lookup each."""


def _floatless(data: Any) -> bool:
    """Whether `data` is JSON built of strings, integers, booleans, nulls, dicts, lists and tuples only: no float
    anywhere, and nothing orjson and `json` could spell differently (a float's digits, a NaN that orjson writes as
    `null`, an object of some other type that orjson serializes natively and `json` refuses).

    One walk over the values, exact types dispatched by identity first, subclasses by `isinstance` after: it
    replaced a search of orjson's text for a fraction or exponent outside strings, then a second walk for NaN and
    infinity, which every record needed (every record has a `null`); half the cost of sealing a record.
    """
    leaves = _LEAVES
    stack = [data]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in leaves:
            continue
        if kind is dict:
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, float) or not isinstance(item, str | int):
            return False
    return True


def canonical_json(data: Any) -> bytes:
    """Deterministic bytes for hashing: sorted keys, no spaces, ASCII only (so no re-encoding ever changes them).

    The form is `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True)`, which every
    existing chain was sealed with. orjson produces the same bytes ~10x faster for the usual record (ASCII
    text, integers); anything where the two could differ (non-ASCII or DEL characters, floats, integers
    beyond 64 bits, non-string keys, values of any other type) goes through `json`. NaN and infinities, which
    JSON has no spelling for, are spelled as the stdlib spells them (`Infinity`), never as orjson's `null`:
    else a log edited from `null` to `Infinity` (which `json` reads back as a float) would hash the same.
    """
    try:
        fast = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        fast = b""
    if fast and fast.isascii() and b"\x7f" not in fast and _floatless(data):
        return fast
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def read_content(record: AuditRecord) -> bytes:
    """`canonical_json(record.content())` for a record `AuditRecord.from_dict` read, in a third of the time: the
    readers' form check runs it on every record they read.

    The same bytes by the same rule: orjson's when they are ASCII without DEL and nothing holds a float,
    `json`'s otherwise. Only the search for a float is shorter: `from_dict` took every top-level field only as
    a string, an integer, null or a list of strings, so a float can only be inside `target`, `diff` or `gates`.
    """
    content = record.content()
    try:
        fast = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        fast = b""
    if fast and fast.isascii() and b"\x7f" not in fast and _floatless((record.target, record.diff, record.gates)):
        return fast
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def digest(obj: Any) -> str | None:
    """`sha256:<hex>` of the object's canonical JSON, or None for an absent object."""
    if obj is None:
        return None
    return "sha256:" + hashlib.sha256(canonical_json(obj)).hexdigest()


def utc_now() -> str:
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """UTC, microseconds, `Z`: fixed width, so times compare correctly as strings."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One attempted change and its outcome; `seq`, `prev`, `hash` are 0/"" until sealed."""

    time: str
    actors: tuple[str, ...]
    target: dict[str, Any]
    action: str
    decision: Verdict
    rule: str
    result: Result
    signer: str | None = None
    commit: str | None = None
    spec_path: str | None = None
    spec: str | None = None
    tenant: str | None = None
    reason: str = ""
    before: str | None = None
    after: str | None = None
    error: str | None = None
    diff: tuple[dict[str, Any], ...] = ()
    intent: int | None = None
    """For an outcome: the seq of the intent it closes (None for a change that wrote nothing)."""
    version: str | None = None
    """For a model alias move: the version it moves to (None for every other change)."""
    approvers: tuple[str, ...] = ()
    """For a model alias move: the approvals that counted."""
    gates: tuple[dict[str, Any], ...] = ()
    """For a model alias move: each gate with the value measured on the version's run, and whether it passed."""
    verified: tuple[str, ...] = ()
    """The actors a signature verified against the trusted base's allowed signers backs (requireSignedCommits);
    every other actor is a claim: a commit's author field, which whoever commits writes."""
    seq: int = 0
    prev: str = ""
    hash: str = field(default="", compare=False)

    @property
    def sealed(self) -> bool:
        return self.seq > 0 and bool(self.hash)

    @property
    def is_intent(self) -> bool:
        return self.result is Result.pending

    @property
    def kind(self) -> str:
        return str(self.target.get("kind", ""))

    def content(self) -> dict[str, Any]:
        """Every field except the chain's own (`seq`, `prev`, `hash`), under its JSON name.

        `intent` only when set, so a record of a change that wrote nothing keeps the exact form (and bytes)
        records had before intents existed; likewise `version`, `approvers` and `gates` only for an alias
        move, and `verified` only when a signature backs an actor, so every record written before they existed
        still hashes to what it was sealed with.
        """
        content: dict[str, Any] = {
            "time": self.time,
            "actors": list(self.actors),
            "signer": self.signer,
            "commit": self.commit,
            "specPath": self.spec_path,
            "spec": self.spec,
            "tenant": self.tenant,
            "target": self.target,
            "action": self.action,
            "decision": self.decision.value,
            "rule": self.rule,
            "reason": self.reason,
            "before": self.before,
            "after": self.after,
            "result": self.result.value,
            "error": self.error,
            "diff": list(self.diff),
        }
        if self.intent is not None:
            content["intent"] = self.intent
        if self.version is not None:
            content["version"] = self.version
            content["approvers"] = list(self.approvers)
            content["gates"] = list(self.gates)
        if self.verified:
            content["verified"] = list(self.verified)
        return content

    def attributed(self) -> tuple[str, ...]:
        """The actors as a reader must take them: each one no verified signature backs marked `(claimed)` (an
        author field is whatever the committer typed), the verified ones as they are."""
        return tuple(a if a in self.verified or a.endswith(UNVERIFIED) else a + CLAIMED for a in self.actors)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "prev": self.prev, **self.content(), "hash": self.hash}

    def with_chain(self, seq: int, prev: str, hash_: str) -> AuditRecord:
        # Positional, past `dataclasses.replace`: sealing runs once per record, thousands per apply.
        return AuditRecord(
            **dict(zip(_CONTENT_NAMES, _CONTENT_FIELDS(self), strict=True)), seq=seq, prev=prev, hash=hash_
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditRecord:
        """Parse one stored record; KeyError/ValueError/TypeError on a malformed one.

        Every field is checked for the type mlcp writes, never converted: a sealed line is anyone's to write (the
        hashes are public), and every reader (list, show, report, promotion history) relies on the types."""
        if not isinstance(data, dict):
            raise TypeError(f"a record is a JSON object, not {kind_of(data)}")
        fast = _usual(cls, data)
        if fast is not None:
            return fast
        return cls(
            seq=typed(data, "seq", int),
            prev=typed(data, "prev", str),
            hash=typed(data, "hash", str),
            time=typed(data, "time", str),
            actors=_strings(data, "actors", required=True),
            signer=typed(data, "signer", TEXT, None),
            commit=typed(data, "commit", TEXT, None),
            spec_path=typed(data, "specPath", TEXT, None),
            spec=typed(data, "spec", TEXT, None),
            tenant=typed(data, "tenant", TEXT, None),
            target=typed(data, "target", dict),
            action=typed(data, "action", str),
            decision=Verdict(typed(data, "decision", str)),
            rule=typed(data, "rule", str),
            reason=typed(data, "reason", TEXT, None) or "",
            before=typed(data, "before", TEXT, None),
            after=typed(data, "after", TEXT, None),
            result=Result(typed(data, "result", str)),
            error=typed(data, "error", TEXT, None),
            diff=_diff(data),
            intent=typed(data, "intent", (int, type(None)), None),
            version=typed(data, "version", TEXT, None),
            approvers=_strings(data, "approvers"),
            gates=_objects(data, "gates"),
            verified=_verified(data),
        )


def _strings(data: dict[str, Any], key: str, *, required: bool = False) -> tuple[str, ...]:
    values = typed(data, key, list) if required else typed(data, key, (list, type(None)), None) or []
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"{key} holds something other than strings")
    return tuple(values)


def _verified(data: dict[str, Any]) -> tuple[str, ...]:
    """The verified actors: some of `actors`, never another name (mlcp writes no other)."""
    verified = _strings(data, "verified")
    if not set(verified) <= set(_strings(data, "actors", required=True)):
        raise ValueError("verified names someone who is not among the actors")
    return verified


def _objects(data: dict[str, Any], key: str) -> tuple[dict[str, Any], ...]:
    values = typed(data, key, (list, type(None)), None) or []
    if not all(isinstance(v, dict) for v in values):
        raise ValueError(f"{key} holds something other than objects")
    return tuple(values)


def _diff(data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Entries `{field, old, new}`, each field a string (the dotted path; "" for a whole created object)."""
    entries = _objects(data, "diff")
    if not all(isinstance(entry.get("field", ""), str) for entry in entries):
        raise TypeError("'diff' holds an entry whose field is no string")
    return entries


_KEYS = (
    "time", "actors", "target", "action", "decision", "rule", "result", "signer", "commit", "specPath", "spec",
    "tenant", "reason", "before", "after", "error", "diff", "intent", "version", "approvers", "gates", "verified",
    "seq", "prev", "hash",
)  # fmt: skip
"""Every field's JSON name, in the order of `AuditRecord`'s fields."""
_NULL = type(None)
_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(("time", "action", "decision", "rule", "result", "prev", "hash"), (str,)),
    **dict.fromkeys(("signer", "commit", "specPath", "spec", "tenant", "reason", "before", "after"), (str, _NULL)),
    **dict.fromkeys(("error", "version"), (str, _NULL)),
    **dict.fromkeys(("diff", "approvers", "gates", "verified"), (list, _NULL)),
    "actors": (list,),
    "target": (dict,),
    "intent": (int, _NULL),
    "seq": (int,),
}
"""The exact types `from_dict` takes for each field (a JSON parser returns no subclasses; a bool is no int)."""
_SHAPES: set[tuple[type, ...]] = set()
"""The combinations of field types seen to be right (at most 2^15: a field is of one type or null), so a record
of a known shape is checked with one lookup."""
_VERDICTS = {v.value: v for v in Verdict}
_RESULTS = {r.value: r for r in Result}


def _usual(cls: type[AuditRecord], data: dict[str, Any]) -> AuditRecord | None:
    """The record, when every field has exactly the type mlcp writes (what every reader reads, record after
    record); None for anything else, which `from_dict`'s field-by-field reading refuses by name.

    The same checks as that reading, made by exact type in one pass: the readers took half their time there
    (`typed` per field). A value it is unsure of is left to the slow path, never accepted."""
    values: tuple[Any, ...] = tuple(map(data.get, _KEYS))
    shape = tuple(map(type, values))
    if shape not in _SHAPES:
        if not all(kind in _TYPES[key] for key, kind in zip(_KEYS, shape, strict=True)):
            return None
        _SHAPES.add(shape)
    (time, actors, target, action, decision, rule, result, signer, commit, spec_path, spec, tenant, reason,
     before, after, error, diff, intent, version, approvers, gates, verified, seq, prev, hash_) = values  # fmt: skip
    verdict, outcome = _VERDICTS.get(decision), _RESULTS.get(result)
    if verdict is None or outcome is None or not _all_of(actors, str):
        return None
    if diff and not (_all_of(diff, dict) and all(type(entry.get("field", "")) is str for entry in diff)):
        return None
    if (approvers and not _all_of(approvers, str)) or (gates and not _all_of(gates, dict)):
        return None
    if verified and not (_all_of(verified, str) and set(verified) <= set(actors)):
        return None
    return cls(
        time, tuple(actors), target, action, verdict, rule, outcome, signer, commit, spec_path, spec, tenant,
        reason or "", before, after, error, tuple(diff) if diff else (), intent, version,
        tuple(approvers) if approvers else (), tuple(gates) if gates else (), tuple(verified) if verified else (),
        seq, prev, hash_,
    )  # fmt: skip


def _all_of(values: list[Any], kind: type) -> bool:
    for value in values:  # noqa: SIM110 (a loop: `all` over a generator takes twice as long)
        if type(value) is not kind:
            return False
    return True


_CONTENT_NAMES = tuple(f.name for f in fields(AuditRecord) if f.name not in ("seq", "prev", "hash"))
_CONTENT_FIELDS = operator.attrgetter(*_CONTENT_NAMES)
"""Every field but the chain's own."""
