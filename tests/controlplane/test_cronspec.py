"""Cron expressions: Argo's CRD pattern and robfig/cron's ranges, no stricter and no looser."""

from __future__ import annotations

import pytest

from controlplane import cronspec


@pytest.mark.parametrize(
    "expr",
    [
        "0 6 * * 1",
        "*/15 * * * 1-5",
        "0 0 1 1 *",
        "0 0 1-31/2 * ?",
        "5/10 * * * *",
        "1,,2 * * * *",  # robfig skips the empty part
        "0  6 * * 1",  # any whitespace between fields
        "@every 1h",
        "@every 1h30m",
        "@every 0s",
        "@daily",
        "@midnight",
        "@annually",
    ],
)
def test_what_argo_accepts_is_accepted(expr: str) -> None:
    assert cronspec.problem(expr) is None


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("0 6 * * MON", "write MON as 1"),  # the CRD pattern has no letters
        ("0 6 * JAN *", "write MON as 1"),
        ("0 6 * * 7", "7 is above 6"),  # robfig: Sunday is 0 only
        ("61 2 * * *", "61 is above 59"),
        ("0 0 0 * *", "0 is below 1"),
        ("*/0 * * * *", "must be positive"),
        ("5-1 * * * *", "runs backwards"),
        ("1-2-3 * * * *", "too many hyphens"),
        ("1/2/3 * * * *", "too many slashes"),
        ("0 2 * * * *", "not 5 fields"),
        ("every night", "not 5 fields"),
        ("@every 1.5h", "not 5 fields"),  # the CRD allows whole numbers only
        ("@every  1h", "exactly one space"),  # the CRD allows it; robfig then fails to parse " 1h"
        ("@every 99999999999h", "too long"),
        ("@hourly ", "not 5 fields"),
        (" 0 6 * * 1", "not 5 fields"),
        ("@daily\n", "not 5 fields"),  # the CRD's `$` (Go RE2) is the end of the text, never before a newline
        ("0 2 * * *\n", "not 5 fields"),
    ],
)
def test_what_argo_refuses_is_refused(expr: str, why: str) -> None:
    problem = cronspec.problem(expr)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("1" * 5000 + " * * * *", "is too large"),  # int() refused it with "use sys.set_int_max_str_digits()"
        ("9" * 20 + " * * * *", "is too large"),  # beyond int64: strconv.Atoi refuses it
    ],
)
def test_a_huge_number_is_refused_clearly(expr: str, why: str) -> None:
    problem = cronspec.problem(expr)
    assert problem is not None and why in problem and "sys." not in problem


def test_leading_zeros_are_read_as_go_reads_them() -> None:
    assert cronspec.problem("0" * 30 + "5 * * * *") is None


@pytest.mark.parametrize("text", ["١", "٥-١٠", "²", "1-²"])
def test_only_ascii_digits_are_numbers(text: str) -> None:
    """Argo's CRD pattern stops these first; the field check must not read them as numbers either."""
    with pytest.raises(ValueError, match="is not a number"):
        cronspec._check_range(text, "minute", 0, 59)
