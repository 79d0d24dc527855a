"""Numbers read from text others write: ASCII digits only, and never more than int() reads."""

from __future__ import annotations

import pytest

from controlplane import digits


@pytest.mark.parametrize("text", ["0", "7", "42", "9" * 19])
def test_ascii_digits_are_numbers(text: str) -> None:
    assert digits.is_digits(text) and digits.number(text) == int(text)


@pytest.mark.parametrize(
    "text",
    ["", "²", "1²", "١", "١٢", "٣٠٠", "𝟗", "-1", "+1", " 1", "1 ", "1_000", "0x10", "1.0", "9" * 20, "9" * 5000],
)
def test_anything_else_is_not(text: str) -> None:
    """`"²".isdigit()` and `"١".isdigit()` are true: int() refused the first (a ValueError where a refusal was
    meant) and read the second (a number no other system reads)."""
    assert not digits.is_digits(text) and digits.number(text) is None


def test_the_bound_is_the_callers() -> None:
    assert digits.number("65535", 5) == 65535 and digits.number("123456", 5) is None
    assert digits.number(None) is None and digits.number(12) is None, "only text is read"
