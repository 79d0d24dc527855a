"""Cron expressions exactly as Argo's CronWorkflow accepts them.

Two gates stand between a schedule and a running CronWorkflow, and mlcp checks
both so `mlcp validate` says no where Argo would, and yes where Argo would:

1. the `schedules` pattern of Argo's full CRD (manifests/base/crds/full, v4.0.5),
   enforced by the API server: five fields of `[0-9*,/?-]` only (no `MON`/`JAN`),
   one of the seven descriptors, or `@every` with Go duration units;
2. robfig/cron v3's `ParseStandard`, which the workflow-controller runs on every
   schedule: field ranges (minute 0-59, hour 0-23, day 1-31, month 1-12,
   weekday 0-6), `a-b/step`, `N/step` meaning N to the maximum, empty comma
   parts ignored, and `@every` taking exactly one space and a duration that
   Go's `time.ParseDuration` reads.

`croniter` is not used here: it accepts names and 7 for Sunday, which Argo refuses.
"""

from __future__ import annotations

import re

from controlplane import digits, goduration

CRD_PATTERN = re.compile(
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|@every\s+([0-9]+(ns|us|µs|ms|s|m|h))+"
    r"|([0-9*,/?-]+\s+){4}[0-9*,/?-]+)$",
    re.ASCII,
)
"""The `spec.schedules` item pattern of Argo's CronWorkflow CRD (Go RE2 `\\s` is ASCII whitespace)."""

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))


def _number(text: str, field: str) -> int:
    """A field's number as Go's strconv.Atoi reads it: ASCII digits, leading zeros ignored, within int64.

    Never `str.isdigit` and `int()`: they read `١` as 1, and refuse 5,000 digits with Python's own advice.
    """
    significant = (text.lstrip("0") or "0") if text.isascii() else text
    number = digits.number(significant)
    if number is None:
        if text and text.isascii() and text.isdigit():
            raise ValueError(f"{field}: {text[:24]}{'...' if len(text) > 24 else ''} is too large")
        raise ValueError(f"{field}: {text!r} is not a number")
    return number


def _check_range(expr: str, field: str, low: int, high: int) -> None:
    """robfig/cron's getRange for one comma-separated part of a field."""
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if len(range_and_step) > 2:
        raise ValueError(f"{field}: too many slashes in {expr!r}")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        if len(low_and_high) > 2:
            raise ValueError(f"{field}: too many hyphens in {expr!r}")
        start = _number(low_and_high[0], field)
        end = _number(low_and_high[1], field) if len(low_and_high) == 2 else start
    if len(range_and_step) == 2:
        step = _number(range_and_step[1], field)
        if len(low_and_high) == 1:
            end = high  # "N/step" means N to the maximum
        if step == 0:
            raise ValueError(f"{field}: the step in {expr!r} must be positive")
    if start < low:
        raise ValueError(f"{field}: {start} is below {low}")
    if end > high:
        raise ValueError(f"{field}: {end} is above {high}")
    if start > end:
        raise ValueError(f"{field}: range {start}-{end} runs backwards")


def problem(expr: str) -> str | None:
    """Why Argo would refuse `expr`, or None if it accepts it."""
    if not CRD_PATTERN.fullmatch(expr):
        if len(expr.split()) == len(_FIELDS) and re.search(r"[A-Za-z]", expr):
            return "Argo's CRD allows only digits and `* , / ? -` in fields: write MON as 1, JAN as 1"
        return "not 5 fields, @hourly/@daily/@weekly/@monthly/@yearly/@annually/@midnight, or `@every <duration>`"
    if expr.startswith("@every"):
        if not expr.startswith("@every ") or expr[len("@every ") :].strip() != expr[len("@every ") :]:
            return "write exactly one space after @every (Argo's cron parser reads the rest as the duration)"
        return goduration.problem(expr[len("@every ") :])
    if expr.startswith("@"):
        return None
    for text, (field, low, high) in zip(expr.split(), _FIELDS, strict=True):
        for part in text.split(","):
            if not part:
                continue  # robfig skips empty parts between commas
            try:
                _check_range(part, field, low, high)
            except ValueError as exc:
                return str(exc)
    return None
