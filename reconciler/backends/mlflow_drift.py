"""Drift of a model alias: decided from mlcp's own record of the version it set, never from tags on the model.

A governed alias found off its declared version is either drift (someone moved
it by hand after mlcp set it: moving it back restores the declared state, so a
freeze window does not hold it) or a declared change (a new promotion, which a
freeze window holds). That difference decides whether a freeze can be bypassed,
so it is an authorization input and comes from mlcp's inventory record
(mlflow_inventory: the `set` of the alias's record, on an experiment tenants
cannot write), never from the `mlcp.dev/alias.<alias>.*` tags on the registered
model, which every member with EDIT on the model can rewrite. Otherwise a member
could tag a held promotion as mlcp's last move and have it "heal" through the
freeze, or retag a hand move so that its heal waits for the window.

The tags are still written for people reading MLflow's UI; here they are only
shown, labelled as unverified claims, where they disagree with the record.
Without a version in the record (written by an older mlcp, or a move whose
outcome was not recorded) drift is unknown and the move is judged as an
ordinary one: fail safe, and the plan says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controlplane.planning import InventoryRecord
from controlplane.rendering.mlflow_objects import alias_tag


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an alias off its declared version drifted (`drift`, the account of it) and what else to say."""

    drift: str | None = None
    """Set only when mlcp's record says mlcp itself had set the declared version: a move back heals drift."""
    note: str | None = None
    """For the plan's reason: drift is unknown, or the model's tags claim something the record does not say."""


def judge(
    model: str,
    alias: str,
    record: InventoryRecord | None,
    tags: Mapping[str, str],
    current: str | None,
    target: str,
) -> Verdict:
    """Drift of `model@alias` (at `current`, declared at `target`) by mlcp's record of the version it last set."""
    if current == target:
        return Verdict()
    claim = _claim(alias, tags, record)
    if record is None:
        return Verdict(note=claim)
    if record.error is not None:
        unknown = (
            f"mlcp's inventory record of {model}@{alias} is unreadable ({record.error}): whether it was moved "
            "outside mlcp is unknown, so this is judged as an ordinary move (freeze windows hold it); applying "
            "it writes a new record"
        )
        return Verdict(note=_join(unknown, claim))
    last = record.last_set
    if last is None:
        unknown = (
            f"mlcp's inventory record of {model}@{alias} does not say which version mlcp last set (recorded by "
            "an older mlcp, or the outcome of its last move is unknown): drift is unknown, so this is judged as "
            "an ordinary move (freeze windows hold it)"
        )
        return Verdict(note=_join(unknown, claim))
    if last.version != target:
        return Verdict(note=claim)
    account = ", ".join(
        f"{name} {value[: 12 if name == 'commit' else None]}"
        for name, value in (("by", last.by), ("at", last.at), ("commit", last.commit))
        if value
    )
    where = f"version {current}" if current else "nowhere (the alias was deleted)"
    drift = (
        f"{model}@{alias} was moved outside mlcp to {where}; mlcp had moved it to version {target}"
        + (f" ({account})" if account else "")
        + ". MLflow records neither who moved an alias nor when"
    )
    return Verdict(drift=drift, note=claim)


def _claim(alias: str, tags: Mapping[str, str], record: InventoryRecord | None) -> str | None:
    """The model's tag naming mlcp's last version, when it disagrees with mlcp's record: an unverified claim."""
    tagged = tags.get(alias_tag(alias, "version"))
    recorded = record.last_set.version if record is not None and record.last_set is not None else None
    if tagged is None or tagged == recorded:
        return None
    says = f"says version {recorded}" if recorded else "names no version"
    return (
        f"the model's tag {alias_tag(alias, 'version')}={tagged} disagrees with mlcp's record, which {says}: "
        "the tag is an unverified claim (anyone with EDIT on the model can write it) and decides nothing"
    )


def _join(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)
