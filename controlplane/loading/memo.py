"""Parse each unchanged file once per plan.

A plan loads two revisions of the same repo: the one under review and the trusted base whose rules judge it
(reconciler/trust.py). They are usually identical but for a few files, so without sharing, every plan parses and
validates every spec twice (about a third of a no-op plan's time at 1,000 tenants, docs/performance.md).

Sharing is scoped, never global: `shared()` opens a memo for one plan (or one reconcile pass) and it is dropped
when the block ends, so a long-running controller holds nothing across passes. Entries are keyed by the file's
exact text and what decides its result (the depth limit; the kind being validated), and only successes are kept:
a parse is reused only while it fits the current budget, and otherwise parsed again, so budget errors and their
positions are exactly those of an unshared load. Documents and specs are never mutated after loading (specs are
frozen pydantic models), which is what makes handing the same objects to both loads safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from controlplane.loading.yamldocs import Caps, Parsed, parse_counted

T = TypeVar("T")


class Memo:
    """Parsed texts and validated documents of one plan."""

    def __init__(self) -> None:
        self.parsed: dict[tuple[str, int], Parsed] = {}
        self.validated: dict[tuple[type[Any], int], tuple[object, Any]] = {}
        """By the document's identity; the document is kept with the result so its id is never reused."""
        self.hits = 0


_CURRENT: ContextVar[Memo | None] = ContextVar("mlcp_load_memo", default=None)


@contextmanager
def shared() -> Iterator[Memo]:
    """Share parses between the loads inside the block (nested blocks share the outer memo)."""
    outer = _CURRENT.get()
    if outer is not None:
        yield outer
        return
    memo = Memo()
    token = _CURRENT.set(memo)
    try:
        yield memo
    finally:
        _CURRENT.reset(token)


def parse(text: str, caps: Caps) -> Parsed:
    """`parse_counted`, reusing an earlier success of the same text when it fits `caps`."""
    memo = _CURRENT.get()
    if memo is None:
        return parse_counted(text, caps)
    key = (text, caps.depth)
    known = memo.parsed.get(key)
    if known is not None and known.nodes <= caps.nodes and len(known.documents) <= caps.documents:
        memo.hits += 1
        return known
    parsed = parse_counted(text, caps)
    memo.parsed[key] = parsed
    return parsed


def validated(cls: type[T], data: object, validate: Callable[[object], T]) -> T:
    """`validate(data)` for `cls`, once per parsed document while a memo is open."""
    memo = _CURRENT.get()
    if memo is None:
        return validate(data)
    key = (cls, id(data))
    known = memo.validated.get(key)
    if known is not None and known[0] is data:
        memo.hits += 1
        reused: T = known[1]
        return reused
    result = validate(data)
    memo.validated[key] = (data, result)
    return result
