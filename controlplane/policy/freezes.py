"""Change freezes: whether a change falls in an open window of the trusted base's policy, and until when. Pure.

A window opens each time its cron fires, in its time zone, and stays open for
its duration; a change it matches (an alias move of a matching model, or a
spec of a held kind, in a matching tenant) is held until the window closes.
The time is a parameter, never read here, so a plan's hold is reproducible
and tests are deterministic. The windows are the trusted base's: a commit
that edits a window and promotes in the same change is judged by the window
as the base has it.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase

from croniter import croniter

from controlplane.specs.access_policy import DURATION, FreezeWindow

OVERRIDE_TRAILER = "Mlcp-Override"
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Hold:
    """An open window holding a change: its name and when it closes (UTC)."""

    window: FreezeWindow
    until: datetime

    def describe(self) -> str:
        local = self.until.astimezone(zoneinfo.ZoneInfo(self.window.time_zone))
        until = self.until.strftime("%Y-%m-%d %H:%M UTC")
        if self.window.time_zone != "UTC":
            until += f" ({local.strftime('%H:%M')} {self.window.time_zone})"
        return f"held by window {self.window.name} until {until}"


def length(window: FreezeWindow) -> timedelta:
    match = DURATION.fullmatch(window.duration)
    if match is None:  # the spec's pattern already refused it
        raise ValueError(f"invalid duration {window.duration!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def closes(window: FreezeWindow, now: datetime) -> datetime | None:
    """When the window open at `now` closes (UTC), or None when it is not open.

    Its latest start at or before `now` ends last, so only that one is looked at. The end is the later of the
    start plus the duration in elapsed time and on the local clock: they differ by the hour a daylight-saving
    change adds or removes, and a freeze fails closed (`4h` from midnight on a spring-forward day is four real
    hours, `1d` over a fall-back night ends at the same local time the next day). Compared in UTC: aware
    datetimes of one zone compare by their wall clocks.
    """
    zone = zoneinfo.ZoneInfo(window.time_zone)
    local = now.astimezone(zone)
    probe = local.replace(second=0, microsecond=0) + timedelta(seconds=1)  # a start at this very minute counts
    start = croniter(window.cron, probe).get_prev(datetime)
    elapsed = start.astimezone(UTC) + length(window)
    by_clock = (start + length(window)).astimezone(UTC)
    end = max(elapsed, by_clock)
    return end if end > now.astimezone(UTC) else None


def _matches(patterns: Iterable[str], value: str | None) -> bool:
    return value is not None and any(p == "*" or fnmatchcase(value, p) for p in patterns)


def holds(
    windows: Sequence[FreezeWindow],
    now: datetime,
    *,
    kind: str,
    tenant: str | None,
    model: str | None = None,
    alias: str | None = None,
) -> list[Hold]:
    """The open windows holding a change of a spec of `kind` (for a promotion: its `model` and `alias`)."""
    found = []
    for window in windows:
        if not ("*" in window.tenants or _matches(window.tenants, tenant)):
            continue
        moves = kind == "ModelPromotion" and _matches(window.models, model) and _matches(window.aliases, alias)
        if not moves and kind not in window.kinds and "*" not in window.kinds:
            continue
        until = closes(window, now)
        if until is not None:
            found.append(Hold(window, until))
    return found
