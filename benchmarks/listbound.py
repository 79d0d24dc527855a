"""The request bound of a listing pass: one LIST per kind per page of mlcp's objects of that kind, plus the inventory.

A page that comes back full cannot always tell the client it was the last: mlcp lists with its label selector,
and when other objects follow in the same key range (another tool's, the controller-manager's default
ServiceAccounts) the API server answers a full page with a continue token, and the next LIST returns nothing. So
a kind whose objects fill their last page exactly may take one more LIST. Kinds with none, or not served, take one.
tests/integration/test_list_pages.py pins this behaviour of the API server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def pages(objects: int, page_size: int) -> int:
    """LISTs of one kind: ⌈n / page⌉, at least one, and one more when the last page is exactly full."""
    full, rest = divmod(objects, page_size)
    return max(1, full + (1 if rest else 0)) + (1 if objects and not rest else 0)


def list_bound(counts: Mapping[tuple[str, str], int], kinds: Iterable[tuple[str, str]], page_size: int) -> int:
    """All kinds' LISTs plus the inventory's read."""
    return sum(pages(counts.get(kind, 0), page_size) for kind in kinds) + 1
