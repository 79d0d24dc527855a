"""Numbers written in ASCII digits: the only ones mlcp reads from text others write (HTTP headers, Lease names
and annotations, resourceVersions, git's output).

`str.isdigit` is true for `"²"` and `"١"` (digits of other scripts and superscripts): `int()` then either
refuses the text (a ValueError where a clear refusal was meant) or reads a number no other system would (Argo's
Go, a Kubernetes client). `int()` also refuses more than 4,300 digits. One check, bounded in length, for all.
"""

from __future__ import annotations

MOST_DIGITS = 19
"""The digits of the largest int64 (9,223,372,036,854,775,807): more than any count, size, time or version read."""


def is_digits(text: str, most: int = MOST_DIGITS) -> bool:
    """Whether `text` is 1 to `most` ASCII digits (`0`-`9`), nothing else."""
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


def number(text: object, most: int = MOST_DIGITS) -> int | None:
    """`text` as a non-negative integer when it is a string of 1 to `most` ASCII digits, else None."""
    return int(text) if isinstance(text, str) and is_digits(text, most) else None
