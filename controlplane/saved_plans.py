"""Whether a saved plan is still the plan: compared with a fresh plan of the revision it names.

A plan file passes through hands (a CI artifact, a laptop) between review and
apply, so `mlcp apply plan.json` never trusts its contents: it plans the named
revision again, with the trusted base's policy and the operator's settings,
and applies only when the two agree. A change whose object moved in the live
systems since (a different live version) and now plans differently is
staleness; one whose object moved only in what mlcp does not manage (a
ResourceQuota's status, which its controller rewrites whenever usage changes)
plans the same change, so it agrees. Every other difference — an edited image,
a decision flipped to allowed, an added or dropped change, another revision —
means the file is not what that revision plans now, so nothing of it is
applied. Pure: no I/O, two `Plan` values in, reasons out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controlplane.plans import Change, ObjectRef, Plan

COMPARED = ("action", "desired", "decision", "blocked", "diffs", "spec", "tenant", "source", "rank", "reason")
"""Every field of a change but the live version (a move of the object is staleness only when the change moved
with it; never tampering), most telling first."""


@dataclass
class Comparison:
    """Why the saved plan may not be applied; empty lists when it may."""

    stale: list[str] = field(default_factory=list)
    """Objects whose live version moved since the plan was made."""
    edited: list[str] = field(default_factory=list)
    """Everything else that differs from the fresh plan of the same revision."""

    @property
    def agrees(self) -> bool:
        return not self.stale and not self.edited


def compare(saved: Plan, fresh: Plan) -> Comparison:
    """`saved` against `fresh`, a plan of the same revision made now."""
    out = Comparison()
    if saved.revision != fresh.revision:
        out.edited.append(f"revision: {saved.revision!r} in the saved plan, {fresh.revision!r} planned now")
    if saved.prune != fresh.prune:
        out.edited.append(f"prune: {_onoff(saved.prune)} in the saved plan, {_onoff(fresh.prune)} now (--prune)")
    theirs: dict[ObjectRef, Change] = {}
    for change in saved.changes:
        if change.ref in theirs:
            out.edited.append(f"{change.ref}: listed twice in the saved plan")
        theirs[change.ref] = change
    ours = {c.ref: c for c in fresh.changes}
    for ref in sorted(theirs.keys() | ours.keys()):
        was, now = theirs.get(ref), ours.get(ref)
        if now is None:
            out.edited.append(f"{ref}: {was.action.value if was else '?'} in the saved plan, not planned now")
        elif was is None:
            out.edited.append(f"{ref}: {now.action.value} planned now, missing from the saved plan")
        else:
            try:
                differences = _differences(ref, was.to_dict(), now.to_dict())
            except RecursionError:  # a value of the file nested deeper than Python compares
                differences = [f"{ref}: nested too deeply to compare"]
            if was.live_version == now.live_version:
                out.edited.extend(differences)
            elif differences:  # the object moved, and the change with it
                out.stale.append(
                    f"{ref}: was {was.live_version or 'absent'} when planned, now {now.live_version or 'absent'}"
                )
            # else: the object moved in what mlcp does not manage (a quota's status, a controller's annotation)
            # and the change is the one reviewed; the fresh plan, with the version read now, is applied
    return out


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def _differences(ref: ObjectRef, saved: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    out = []
    for name in COMPARED:
        if saved.get(name) != fresh.get(name):
            where, old, new = first_difference(saved.get(name), fresh.get(name), name)
            out.append(f"{ref}: {where} is {_short(old)} in the saved plan, {_short(new)} now")
    return out


def first_difference(old: Any, new: Any, path: str) -> tuple[str, Any, Any]:
    """The first (dotted) place where two JSON values differ, with both values there."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys(), key=str):
            if old.get(key) != new.get(key) or (key in old) != (key in new):
                return first_difference(old.get(key), new.get(key), f"{path}.{key}")
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                return first_difference(a, b, f"{path}[{i}]")
    return path, old, new


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
