"""Which live registered model is the one mlcp manages under a name: the one whose creation time mlcp recorded.

A registered model's name is tenant-writable: anyone with EDIT on it (every `edit` member of the tenant that
promotes it) renames it, and MLflow moves every grant on it, mlcp's included, with the rename; anyone may then
register a new model under the freed name and holds MANAGE there. Matching by name alone, a model renamed away
took mlcp's grants out of its reach (a member who renamed it kept EDIT on the tenant's versions after his
removal, and got it back on the name by renaming it back), and a model registered under the name was taken for
the tenant's: mlcp granted the tenant's people on it and moved the tenant's aliases to its versions.

MLflow gives a registered model no id; its creation time (milliseconds, set by the server, kept by a rename) is
what marks one. So each record of an alias or a grant mlcp writes holds the creation time of the model it is on
(`InventoryRecord.model`), and from then on, for a name mlcp recorded:

- the model holding the name is another (not created then) while the recorded one is there under another name: a
  conflict. Every alias and grant change on the name is blocked, saying where the recorded one is and how to fix
  it; nothing is granted or moved there;
- the recorded model renamed away, the name free: its alias changes are blocked the same way (rename it back),
  and its grants are read and revoked where it is now, whatever its tags, so a member removed from the tenant
  loses his grant on it;
- the recorded model gone for good (deleted): a model under the name is a new one, taken over only as the first
  promotion of a model is (mlflow_adoption: nobody the tenant does not declare may hold a grant on it).

A record without a creation time (written by an older mlcp) decides by the name, as before, and the next apply that
claims the object records the model holding the name then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from controlplane import digits
from controlplane.inventory import Claim, InventoryRecord
from controlplane.plans import Action, Change, ObjectRef
from controlplane.rendering.mlflow_objects import MODEL_ALIAS, AliasRef
from controlplane.rendering.mlflow_permissions import MODEL_PERMISSION, GrantRef

MODEL = "model"
"""The key of the model an alias or a grant is on (its creation time), in that object's record."""
KINDS = (MODEL_ALIAS, MODEL_PERMISSION)


def created(model: Mapping[str, Any]) -> str | None:
    """A registered model's creation time as MLflow answers it (None: not a number of milliseconds)."""
    value = model.get("creation_timestamp")
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return text if digits.is_digits(text) else None


def model_of(ref: ObjectRef) -> str | None:
    """The registered model an alias or a grant is on (None: another kind)."""
    if ref.kind == MODEL_ALIAS:
        return AliasRef.of(ref).model
    if ref.kind == MODEL_PERMISSION:
        return GrantRef.of(ref).resource
    return None


def stored(kind: str, value: Any) -> tuple[str | None, str | None]:
    """The stored creation time of a record (None: absent), and what is wrong with it (None: nothing; it decides
    which model is the managed one, so it is read strictly)."""
    if value is None:
        return None, None
    if kind not in KINDS:
        return None, f"{MODEL} on a {kind}: mlcp records it for model aliases and grants only"
    if not isinstance(value, str) or not digits.is_digits(value):
        return None, f"{MODEL} is {value!r}, not a model's creation time"
    return value, None


@dataclass(frozen=True)
class Places:
    """mlcp's recorded models and the live ones, as one plan read them."""

    recorded: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Model name (as specs name it) → the creation times mlcp recorded for it."""
    holders: Mapping[str, str] = field(default_factory=dict)
    """Live model name → its creation time."""
    names: Mapping[str, str] = field(default_factory=dict)
    """Creation time → the live model's name now."""
    known: Mapping[str, str] = field(default_factory=dict)
    """Recorded creation time → the name mlcp recorded that model under."""

    @classmethod
    def of(cls, records: Mapping[ObjectRef, InventoryRecord], models: Iterable[Mapping[str, Any]]) -> Places:
        recorded: dict[str, set[str]] = {}
        for ref, record in records.items():
            name = model_of(ref)
            if name is not None and record.error is None and record.model is not None:
                recorded.setdefault(name, set()).add(record.model)
        holders = {str(m["name"]): when for m in models if (when := created(m)) is not None}
        names = {when: name for name, when in holders.items()}
        known = {when: name for name, times in recorded.items() for when in times}
        return cls({n: frozenset(w) for n, w in recorded.items()}, holders, names, known)

    def _elsewhere(self, name: str) -> str | None:
        """The live name of the model mlcp recorded under `name`, when that model is not the one holding `name`."""
        if self.holders.get(name) in self.recorded.get(name, ()):
            return None
        return next((self.names[w] for w in sorted(self.recorded.get(name, ())) if w in self.names), None)

    def place(self, name: str) -> str | None:
        """Where grants on the model mlcp manages as `name` are: the recorded model, whatever it is named now; else
        whichever model holds the name (None: none)."""
        return self._elsewhere(name) or (name if name in self.holders else None)

    def known_as(self, live: str) -> str | None:
        """The name grants on live model `live` are known by: the name mlcp recorded it under, whatever it is named
        now; None for one holding a recorded name that is not the recorded model (its grant tags, copied or not,
        are not the tenant's)."""
        found = self.known.get(self.holders.get(live, ""))
        return found or (None if self.refusal(live) else live)

    def identity(self, name: str) -> str | None:
        """The creation time to record for an alias or grant on `name`: of the model at `place(name)`."""
        found = self.place(name)
        return self.holders.get(found) if found is not None else None

    def claimed(self, ref: ObjectRef, claim: Claim, prior: InventoryRecord | None) -> Claim:
        """An apply's claim of an alias or grant with the creation time of the model it is on. A no-op over a record
        without one (an older mlcp's) records it too, and nothing else of that record changes."""
        name = model_of(ref)
        found = self.identity(name) if name is not None else None
        if found is None:
            return claim
        if claim.wrote:
            return replace(claim, record=replace(claim.record, model=found))
        if prior is not None and prior.error is None and prior.model is None:
            return Claim(replace(prior, model=found), wrote=True)
        return claim

    def governed(self, name: str, legacy: bool) -> bool:
        """Whether the model holding `name` is one mlcp manages: the recorded one, or, with no creation time recorded
        (`legacy`: an older mlcp's record of one of its aliases), whichever holds the name."""
        recorded = self.recorded.get(name)
        return self.holders.get(name) in recorded if recorded else legacy

    def refusal(self, name: str) -> str | None:
        """Why nothing may be granted or moved on the model under `name` now (None: nothing against it)."""
        moved = self._elsewhere(name)
        if moved is None:
            return None
        recorded = self.holders[moved]
        if name not in self.holders:
            return (
                f"registered model {name!r}, which mlcp manages (created {recorded}), is now named {moved!r}: it is "
                "still the tenant's (its grants follow it, whatever its name), so mlcp moves no alias of it under "
                f"another name. To fix: rename {moved!r} back to {name!r}"
            )
        return (
            f"registered model {name!r} is now another model (created {self.holders[name]}), not the one mlcp "
            f"manages under this name (created {recorded}, now named {moved!r}): a name passes to whoever takes it, "
            f"so mlcp grants nothing on it and moves none of its aliases. To fix: rename {name!r} away, then rename "
            f"{moved!r} back to {name!r}"
        )


def review(changes: Sequence[Change], places: Places) -> list[Change]:
    """`changes` with every alias change on a name whose model is not the recorded one blocked (with no fallback: a
    move back would move an alias of another model), and every grant on a name another model holds, but revokes.
    Grants go where the recorded model is (`Places.place`), so a revoke is never held back, nor, while the name is
    free, a grant."""
    out = []
    for change in changes:
        name = model_of(change.ref)
        why = places.refusal(name) if name is not None else None
        granting = change.ref.kind == MODEL_PERMISSION
        if why is None or (granting and (change.action is Action.delete or name not in places.holders)):
            out.append(change)
            continue
        why = f"not granted on registered model {name!r}: {why}" if granting else why
        action = Action.update if change.action is Action.noop else change.action
        out.append(replace(change, action=action, blocked=why, fallback=None))
    return out
