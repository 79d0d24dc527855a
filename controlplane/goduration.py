"""Durations exactly as Go's `time.ParseDuration` reads them: Argo parses a template's durations with it.

A duration is one or more parts, each a number and a unit (`90s`, `1h30m`, `1.5h`, `.5s`, `5.s`), the
number having at least one digit before or after its point, the units `ns`, `us`, `µs`, `μs`, `ms`, `s`,
`m` and `h`; a bare `0` is a duration too; the total must fit Go's int64 of nanoseconds (about 292 years).
A pattern such as `([0-9]*(\\.[0-9]*)?unit)+` lets `s`, `.m` and `h` through, which Go refuses ("invalid
duration"), so the text is read part by part as Go reads it. Go also allows a leading sign; mlcp refuses it,
as no duration a spec sets means anything negative.
"""

from __future__ import annotations

import re
from fractions import Fraction

UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
"""Go's unitMap: nanoseconds per unit (`µs` is the micro sign, `μs` the Greek mu; Go takes both)."""

MAX_NS = 2**63 - 1
"""The longest time.Duration."""

_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)")
"""One part at a position: digits, an optional point and digits, a unit (`ms` before `m`: the longer first)."""


def nanoseconds(text: str) -> int:
    """The length of `text` in nanoseconds; ValueError saying why Go's time.ParseDuration refuses it."""
    if text == "0":
        return 0
    if text[:1] in ("+", "-"):
        raise ValueError("a duration has no sign")
    if not text:
        raise ValueError("an empty duration")
    total = Fraction(0)
    pos = 0
    while pos < len(text):
        part = _PART.match(text, pos)
        if part is None:
            raise ValueError("write numbers each with a unit: ns, us, ms, s, m or h")
        whole, fraction, unit = part.groups()
        if not whole and not fraction:
            raise ValueError(f"{part.group()!r} has no digits")
        total += Fraction(int(whole or "0")) * UNIT_NS[unit]
        if fraction:
            total += Fraction(int(fraction), 10 ** len(fraction)) * UNIT_NS[unit]
        if total > MAX_NS:
            raise ValueError("too long: Go's durations end at about 292 years")
        pos = part.end()
    return int(total)


def problem(text: str) -> str | None:
    """Why Go's time.ParseDuration refuses `text` (a sign included, which mlcp refuses), or None."""
    try:
        nanoseconds(text)
    except ValueError as exc:
        return str(exc)
    return None
