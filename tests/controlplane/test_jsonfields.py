"""Typed reading of JSON fields: what a saved plan's and an audit record's readers refuse, and how they say it."""

from __future__ import annotations

import pytest

from controlplane.jsonfields import TEXT, typed


def test_a_field_of_the_wrong_type_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^name is a list, not a string or null$"):
        typed({"name": ["x"]}, "name", TEXT)
    with pytest.raises(ValueError, match=r"^rank is a boolean, not a number$"):
        typed({"rank": True}, "rank", int)  # a bool is no int, though Python says it is


def test_a_missing_field_is_refused_unless_it_has_a_default() -> None:
    with pytest.raises(ValueError, match=r"^rank is missing$"):
        typed({}, "rank", int)
    assert typed({}, "tenant", TEXT, None) is None
    assert typed({"rank": 3}, "rank", int) == 3
