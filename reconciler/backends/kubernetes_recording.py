"""How an apply records what mlcp now manages in its Kubernetes inventory: only what changed, and a shard's
entries over the others' as they are stored now.

The inventory is mlcp's own record (deletes are attributed from it, never from labels), so a write must neither
lose another writer's entries nor be sent when nothing changed. Every object's record comes from the plan's
claims (`Inventory.updated`), never from live state. A sharded replica writes conditionally on what it read (the
pieces it writes and the index) and reads again when another shard won the race, so it never undoes the others'
entries; the pieces themselves, and why they are trusted, are kubernetes_pieces'.
"""

from __future__ import annotations

from dataclasses import replace

from controlplane.inventory import Inventory
from controlplane.plans import ObjectRef
from reconciler.backends.base import ApplyOptions, BackendError
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_pieces import PieceStore
from reconciler.backends.kubernetes_writes import explain

MERGE_ATTEMPTS = 8
"""How often a shard's inventory write reads again after another writer won the race."""


def record(pieces: PieceStore, prior: Inventory, refs: frozenset[ObjectRef], options: ApplyOptions) -> Inventory | None:
    """Write the pieces of the inventory that changed (and its index) if any did, and return what is stored
    then; None when nothing was written (nothing changed, or a dry run)."""
    revision = options.revision or prior.revision
    new = prior.updated(_with_others(prior, refs, options), options.claims, options.only)
    if _same(new, prior) and revision == prior.revision:
        return None
    if options.dry_run:
        return None
    if options.scope is None:
        return pieces.write(new, revision)
    return _merge(pieces, refs, options)


def _merge(pieces: PieceStore, refs: frozenset[ObjectRef], options: ApplyOptions) -> Inventory:
    """A shard's write: its own entries over the others' as stored now, each write conditional on what was
    read (the pieces it writes and the index), so another shard's entries are never undone."""
    scope = options.scope or (lambda _tenant: True)
    for _ in range(MERGE_ATTEMPTS):
        prior = pieces.read()
        new = prior.updated(_with_others(prior, refs, replace(options, scope=scope)), options.claims, options.only)
        try:
            return pieces.write(new, options.revision or prior.revision, conditional=True)
        except HttpError as exc:
            if exc.status != 409:
                raise BackendError(f"writing mlcp's inventory failed: {explain(exc)}") from None
    raise BackendError(
        f"writing mlcp's inventory failed: other writers wrote it {MERGE_ATTEMPTS} times in a row; "
        "the next pass tries again"
    )


def _with_others(prior: Inventory, refs: frozenset[ObjectRef], options: ApplyOptions) -> frozenset[ObjectRef]:
    """`refs` with, for a shard's writer, the objects recorded for other shards' tenants, which stay as they are:
    among `options.only` when the apply looked at a few objects (the others are kept by `only` already)."""
    if options.scope is None:
        return refs
    if options.only is None:
        return refs | prior.others(options.scope)
    return refs | prior.others_among(options.only, options.scope)


def _same(new: Inventory, prior: Inventory) -> bool:
    """Whether `updated` left `prior` as it was: by identity, or by the objects it names as changed (O(change)); a
    whole comparison only for an inventory made otherwise."""
    if new.refs is prior.refs and new.records is prior.records:
        return True
    made_from = new.changed_from
    if made_from is not None and made_from[0] is prior.records:
        return all(
            (ref in new.refs) == (ref in prior.refs) and new.records.get(ref) == prior.records.get(ref)
            for ref in made_from[1]
        )
    return new.refs == prior.refs and new.records == prior.records
