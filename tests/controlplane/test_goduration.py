"""Durations as Go's time.ParseDuration reads them (cases from Go's time/time_test.go), a sign refused."""

from __future__ import annotations

import pytest

from controlplane import goduration

S = 10**9


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("5s", 5 * S),
        ("30s", 30 * S),
        ("1478s", 1478 * S),
        ("5.0s", 5 * S),
        ("5.6s", 5 * S + 600_000_000),
        ("5.s", 5 * S),
        (".5s", S // 2),
        ("1.0s", S),
        ("1.004s", S + 4_000_000),
        ("100.00100s", 100 * S + 1_000_000),
        ("10ns", 10),
        ("11us", 11_000),
        ("12µs", 12_000),  # the micro sign
        ("12μs", 12_000),  # the Greek mu
        ("13ms", 13_000_000),
        ("14s", 14 * S),
        ("15m", 15 * 60 * S),
        ("16h", 16 * 3600 * S),
        ("3h30m", (3 * 3600 + 30 * 60) * S),
        ("10.5s4m", 4 * 60 * S + 10 * S + S // 2),
        ("1h2m3s4ms5us6ns", 3600 * S + 2 * 60 * S + 3 * S + 4_000_000 + 5_000 + 6),
        ("9223372036854775807ns", 2**63 - 1),
        ("2562047h", 2562047 * 3600 * S),
    ],
)
def test_what_go_reads_is_read_as_go_reads_it(text: str, ns: int) -> None:
    assert goduration.nanoseconds(text) == ns
    assert goduration.problem(text) is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("3", "with a unit"),
        ("s", "has no digits"),  # a pattern of optional digits and a unit lets these three through
        (".m", "has no digits"),
        ("h", "has no digits"),
        (".s", "has no digits"),
        ("1hs", "has no digits"),
        ("1d", "with a unit"),  # Go has no day
        ("1.5.5s", "with a unit"),
        ("3000000h", "too long"),
        ("9223372036854775808ns", "too long"),
        ("-1s", "no sign"),  # Go reads a sign; mlcp refuses it
        ("+1s", "no sign"),
        ("1s ", "with a unit"),
        ("1s\n", "with a unit"),
        ("١s", "with a unit"),  # Arabic-Indic digits are not Go's
    ],
)
def test_what_go_refuses_is_refused(text: str, why: str) -> None:
    problem = goduration.problem(text)
    assert problem is not None and why in problem
