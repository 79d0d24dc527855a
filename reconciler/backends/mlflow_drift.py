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

The version the record names is also the alias's last authorized state. An
alias off it was moved outside mlcp, wherever it points now, and stays there
only if the change to the declared version is allowed: a member who moves it
by hand to the version of her denied or held promotion (where the alias then
sits at its declared version, which once planned nothing) has the move judged
like any promotion, from the recorded version, and moved back to the recorded
version when it may not go ahead (`Verdict.restore`). Without a recorded
version there is nothing known to go back to, and an alias at its declared
version says nothing of who put it there: it is confirmed (`Verdict.unrecorded`),
judged like a promotion to that version and, when it may go ahead, recorded as
mlcp's. Until then a hand move off it would be judged as an ordinary move, not
drift (it was "not caught until mlcp moved it once"); a hand move to the version
of a promotion that may not go ahead stays blocked, with nowhere known to go
back to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controlplane.inventory import InventoryRecord, LastSet
from controlplane.rendering.mlflow_objects import alias_tag


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an alias was moved outside mlcp (`moved`, the account of it), where mlcp would move it back, and
    what else to say."""

    moved: str | None = None
    """Set when mlcp's record names the version mlcp last set and the alias is off it: a move outside mlcp."""
    restore: LastSet | None = None
    """With `moved`: what mlcp last set (the last authorized state), where the alias goes back when the change to
    the declared version may not go ahead."""
    heals: bool = False
    """The declared version is the one mlcp last set: moving there heals drift (not held by freeze windows)."""
    note: str | None = None
    """For the plan's reason: drift is unknown, or the model's tags claim something the record does not say."""
    unrecorded: str | None = None
    """Set when the alias is at its declared version but mlcp's record does not say mlcp set it there: why the
    version is to be confirmed (judged as a promotion to it, then recorded)."""

    @property
    def drift(self) -> str | None:
        """The account of the move outside mlcp when moving to the declared version heals it."""
        return self.moved if self.heals else None


def judge(
    model: str,
    alias: str,
    record: InventoryRecord | None,
    tags: Mapping[str, str],
    current: str | None,
    target: str | None,
) -> Verdict:
    """Drift of `model@alias` (at `current`, declared at `target`, None when that cannot be resolved) by mlcp's
    record of the version it last set."""
    last = record.last_set if record is not None and record.error is None else None
    if target is not None and current == target and last is not None and last.version == target:
        return Verdict()  # nothing to move: where mlcp left it
    claim = _claim(alias, tags, record)
    if target is not None and current == target and last is None:
        return Verdict(unrecorded=_unrecorded(model, alias, record, target), note=claim)
    if record is None:
        return Verdict(note=claim)
    if record.error is not None:
        unknown = (
            f"mlcp's inventory record of {model}@{alias} is unreadable ({record.error}): whether it was moved "
            "outside mlcp is unknown, so this is judged as an ordinary move (freeze windows hold it); applying "
            "it writes a new record"
        )
        return Verdict(note=_join(unknown, claim))
    if last is None:
        unknown = (
            f"mlcp's inventory record of {model}@{alias} does not say which version mlcp last set (recorded by "
            "an older mlcp, or the outcome of its last move is unknown): drift is unknown, so this is judged as "
            "an ordinary move (freeze windows hold it)"
        )
        return Verdict(note=_join(unknown, claim))
    if current == last.version:
        return Verdict(note=claim)  # a declared move from where mlcp left it
    return Verdict(moved=_account(model, alias, last, current), restore=last, heals=last.version == target, note=claim)


def _unrecorded(model: str, alias: str, record: InventoryRecord | None, target: str) -> str:
    why = (
        "mlcp has no record of it"
        if record is None
        else f"mlcp's record of it is unreadable ({record.error})"
        if record.error is not None
        else "mlcp's record of it does not say which version mlcp set (an older mlcp's, or a move whose outcome "
        "was not recorded)"
    )
    return (
        f"{model}@{alias} is at version {target}, its declared version, but {why}: applying confirms it, judged as "
        "a promotion to it, and records it as mlcp's, so that a later move outside mlcp is caught as drift"
    )


def _account(model: str, alias: str, last: LastSet, current: str | None) -> str:
    """What is known of a move outside mlcp: where the alias is, and mlcp's record of its own last move."""
    account = ", ".join(
        f"{name} {value[: 12 if name == 'commit' else None]}"
        for name, value in (("by", last.by), ("at", last.at), ("commit", last.commit))
        if value
    )
    where = f"version {current}" if current else "nowhere (the alias was deleted)"
    return (
        f"{model}@{alias} was moved outside mlcp to {where}; mlcp had moved it to version {last.version}"
        + (f" ({account})" if account else "")
        + ". MLflow records neither who moved an alias nor when"
    )


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
