"""Promotion history: which version an alias pointed to, when, from which commit, and who put it there.

MLflow keeps only an alias's current version (mlflow/mlflow#2169), so the
history is read from the audit log: every recorded change of a `ModelAlias`
object is a move, with the version, the time and the commit, the authors and
the approvers, the measured gates and the outcome. Records written before
alias records carried `version`, `approvers` and `gates` still count: their
version is the diff's. The registry's own account (the alias now, and the
`mlcp.dev/alias.<alias>.*` tags mlcp writes on every move) is compared with
the log's last move, and every disagreement is said, never reconciled away:
it means a move outside mlcp, or a log that is not this registry's. So is
mlcp's own inventory record of the version it last set. The tags are claims
(anyone with EDIT on the model writes them), said as such where they differ.
With a sharded controller a tenant's moves are in its shard's chain
(controlplane.audit.chains): `moves_in` pairs each chain's records within it
and merges the moves by time, each named by its record id (`shard-3:42`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controlplane.audit.chains import MAIN, RecordId, label
from controlplane.audit.query import by_change
from controlplane.audit.records import CLAIMED, AuditRecord, Result
from controlplane.plans import UNVERIFIED

ALIAS_KIND = "ModelAlias"
_MOVED = {Result.applied, Result.deleted}


@dataclass(frozen=True, slots=True)
class Move:
    """One recorded attempt to move (or remove) an alias, and what became of it."""

    seq: int
    time: str
    model: str
    alias: str
    action: str
    version: str | None
    previous: str | None
    commit: str | None
    authors: tuple[str, ...]
    approvers: tuple[str, ...]
    gates: tuple[dict[str, Any], ...]
    outcome: str
    rule: str
    reason: str
    error: str | None
    chain: str = MAIN
    """The audit chain it was read from ("" for the main one)."""
    verified: tuple[str, ...] = ()
    """The authors a signature verified against the trusted base's allowed signers backs (the record's
    `verified`); every other author is a claim, a commit's author field."""

    @property
    def id(self) -> RecordId:
        return RecordId(self.chain, self.seq)

    @property
    def took_effect(self) -> bool:
        return Result(self.outcome) in _MOVED

    @property
    def healed_drift(self) -> bool:
        """A move back after someone moved the alias outside mlcp (the loop's, or an apply's)."""
        return self.took_effect and self.reason.startswith("drift healed:")

    def shown_authors(self) -> tuple[str, ...]:
        """The authors as a reader must take them: each one no verified signature backs marked `(claimed)`, as
        `mlcp audit` marks a record's actors (AuditRecord.attributed)."""
        return tuple(a if a in self.verified or a.endswith(UNVERIFIED) else a + CLAIMED for a in self.authors)

    def shown_approvers(self) -> tuple[str, ...]:
        """The approvers as a reader must take them: counted under the same rule as the authors' identities, so
        signers' principals only when a signature backs an author of the move (requireSignedCommits), else each
        one a claim, an approval commit's author field."""
        return self.approvers if self.verified else tuple(a + CLAIMED for a in self.approvers)

    @property
    def points_to(self) -> str | None:
        """Where the alias pointed after this move, when it took effect (None: removed)."""
        return None if self.action == "delete" else self.version

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "chain": label(self.chain),
            "seq": self.seq,
            "time": self.time,
            "model": self.model,
            "alias": self.alias,
            "action": self.action,
            "version": self.version,
            "previousVersion": self.previous,
            "commit": self.commit,
            "authors": list(self.authors),
            "verified": list(self.verified),
            "approvers": list(self.approvers),
            "gates": list(self.gates),
            "outcome": self.outcome,
            "healedDrift": self.healed_drift,
            "rule": self.rule,
            "reason": self.reason,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class RegistryAlias:
    """What the registry says about one alias: where it points now, mlcp's record of it, and the model's tags."""

    alias: str
    version: str | None
    tags: Mapping[str, str] = field(default_factory=dict)
    """`version`, `commit`, `by`, `at`, ... from the model's `mlcp.dev/alias.<alias>.*` tags: unverified claims,
    since anyone with EDIT on the model can write them; only compared, never believed. Their `commit` is the one
    that last changed the promotion's spec, not the revision applied (the audit log's), so only the version is
    compared."""
    recorded: str | None = None
    """The version mlcp's own inventory record (the `mlcp-inventory` experiment) says mlcp last set it to; None
    when the record says none (no record, an older mlcp's, or a move whose outcome was not recorded)."""


def _version_diff(record: AuditRecord) -> tuple[str | None, str | None]:
    for item in record.diff:
        created = item.get("new")
        if item.get("field") == "" and isinstance(created, dict) and created.get("version") is not None:
            return None, str(created["version"])
        if item.get("field") == "version":
            old, new = item.get("old"), item.get("new")
            return (None if old is None else str(old)), (None if new is None else str(new))
    return None, None


def _move(record: AuditRecord, model: str, alias: str) -> Move:
    previous, new = _version_diff(record)
    return Move(
        seq=record.seq,
        time=record.time,
        model=model,
        alias=alias,
        action=record.action,
        version=record.version or new,
        previous=previous,
        commit=record.commit,
        authors=record.actors,
        approvers=record.approvers,
        verified=record.verified,
        gates=record.gates,
        outcome=record.result.value,
        rule=record.rule,
        reason=record.reason,
        error=record.error,
    )


def moves(records: Iterable[AuditRecord], model: str | None = None, alias: str | None = None) -> list[Move]:
    """Every recorded move of `model`'s aliases (all models when None; only `alias` when given), oldest first."""
    found: list[Move] = []
    for record in by_change(records):
        if record.kind != ALIAS_KIND or record.result is Result.unchanged:
            continue
        name_model, _, name_alias = str(record.target.get("name", "")).rpartition("@")
        if (model is not None and name_model != model) or (alias is not None and name_alias != alias):
            continue
        found.append(_move(record, name_model, name_alias))
    return found


def moves_in(
    chains: Mapping[str, Iterable[AuditRecord]], model: str | None = None, alias: str | None = None
) -> list[Move]:
    """`moves` of every chain (each paired within its own chain), merged oldest first, each with its chain."""
    found = [replace(m, chain=name) for name, records in chains.items() for m in moves(records, model, alias)]
    return sorted(found, key=lambda m: m.time)


def disagreements(history: Iterable[Move], registry: Iterable[RegistryAlias]) -> list[str]:
    """Where the registry and the log's last effective move of each alias disagree, one sentence each."""
    last: dict[str, Move] = {}
    for move in history:
        if move.took_effect:
            last[move.alias] = move
    found: list[str] = []
    for state in registry:
        found_move = last.get(state.alias)
        where = f"version {state.version}" if state.version else "unset"
        if found_move is None:
            if state.version is not None:
                found.append(
                    f"{state.alias}: the registry has it at {where}, but the audit log records no move of it "
                    "(moved outside mlcp, or this log is not the one this registry's mlcp writes)"
                )
            continue
        move = found_move
        logged = f"version {move.points_to}" if move.points_to else "unset"
        if state.version != move.points_to:
            found.append(
                f"{state.alias}: the registry has it at {where}, but the last move the audit log records "
                f"(#{move.id}, {move.time[:19]}Z, commit {(move.commit or '?')[:12]}) left it at {logged}: it was "
                "moved outside mlcp since"
            )
        if state.recorded is not None and move.points_to and state.recorded != move.points_to:
            found.append(
                f"{state.alias}: mlcp's inventory record says mlcp last moved it to version {state.recorded}, the "
                f"audit log says {move.points_to} (a log that is not this registry's, or a record that was lost)"
            )
        tagged = state.tags.get("version")
        if move.points_to and tagged is not None and tagged != move.points_to:
            found.append(
                f"{state.alias}: the model's tag claims mlcp last moved it to version {tagged}, the audit log says "
                f"{move.points_to}; the tag is unverified (anyone with EDIT on the model can write it)"
            )
    return found
