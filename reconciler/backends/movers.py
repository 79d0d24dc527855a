"""Who a registry itself lets move a model's aliases, as values the approval rule reads (the backend asks).

A promotion of whatever `fromAlias` names promotes the version whoever moved
that alias chose, and the registry records no one for a move: so nobody who
may move it may approve the promotion (four eyes). mlcp's own grants say who
it let move it (the tenant's owners and editors), but a registry lets anyone
it grants the right move it too: an admin's grant made outside mlcp, a model's
creator, a default permission, the registry's admins. Those grants are live
state that mlcp does not own, so they are read here as a *restriction only*:
what the registry says can remove an approver, never add one, and whatever it
cannot say (auth unknown, a read that failed, an approver with no user of
their name) removes the approver too.

The reader is injected into the authorizer (like a permission validator), and
asked only about the approvers of the promotions it judges: a few requests per
approver per model, kept for the pass.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Standing(StrEnum):
    """What the registry says about one identity and one model's aliases."""

    cannot_move = "cannot move"
    """It knows a user of this name, who may not move the model's aliases."""
    may_move = "may move"
    """The user may move them, or the registry cannot tell (which counts the same: fail safe)."""
    no_user = "no user"
    """It knows no user of this name: another identity of the same person may still be theirs."""


@dataclass(frozen=True)
class MoveRight:
    """One identity's standing on one model, and why (shown beside an approval that does not count)."""

    standing: Standing
    why: str


@dataclass(frozen=True)
class AliasRights:
    """The registry's answer about some identities on one model."""

    model: str
    open: bool
    """The registry enforces no permissions at all: anyone who reaches it may move any alias (`rights` is empty)."""
    rights: Mapping[str, MoveRight]
    """Identity (lower case, as the policy names people) → its standing; one not asked about is absent."""


@runtime_checkable
class AliasRightsReader(Protocol):
    """A registry that says who may move a model's aliases (the MLflow backend)."""

    def alias_rights(self, model: str, identities: Collection[str]) -> AliasRights: ...


def reader_of(backends: Mapping[str, object], system: str) -> AliasRightsReader | None:
    """The backend of `system` (the one holding model aliases) when it can say who may move them, else None."""
    found = backends.get(system)
    return found if isinstance(found, AliasRightsReader) else None
