"""Freeze windows: open from each cron firing, in the window's time zone, for its duration; what they hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from controlplane.policy.freezes import closes, holds
from controlplane.specs.access_policy import FreezeWindow

FRIDAY_EVENING = FreezeWindow.model_validate(
    {"name": "weekend", "cron": "0 18 * * 5", "duration": "62h", "timeZone": "Europe/Berlin"}
)


def test_a_window_is_open_from_its_cron_in_its_time_zone_for_its_duration() -> None:
    # Friday 2026-11-27 18:00 in Berlin is 17:00 UTC; 62 hours later is Monday 08:00 Berlin, 07:00 UTC.
    assert closes(FRIDAY_EVENING, datetime(2026, 11, 27, 16, 59, tzinfo=UTC)) is None
    assert closes(FRIDAY_EVENING, datetime(2026, 11, 27, 17, 0, tzinfo=UTC)) == datetime(2026, 11, 30, 7, tzinfo=UTC)
    assert closes(FRIDAY_EVENING, datetime(2026, 11, 29, 12, 0, tzinfo=UTC)) == datetime(2026, 11, 30, 7, tzinfo=UTC)
    assert closes(FRIDAY_EVENING, datetime(2026, 11, 30, 7, 0, tzinfo=UTC)) is None


def test_the_plan_names_the_window_and_when_it_closes() -> None:
    (hold,) = holds(
        [FRIDAY_EVENING],
        datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        kind="ModelPromotion",
        tenant="vision",
        model="vision-detector",
        alias="production",
    )
    assert hold.describe() == "held by window weekend until 2026-11-30 07:00 UTC (08:00 Europe/Berlin)"


def test_what_a_window_holds() -> None:
    window = FreezeWindow.model_validate(
        {"name": "f", "cron": "@daily", "duration": "1d", "models": ["vision-*"], "kinds": ["Pipeline"]}
    )
    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def held(kind: str, model: str | None = None, alias: str | None = None, tenant: str = "vision") -> bool:
        return bool(holds([window], now, kind=kind, tenant=tenant, model=model, alias=alias))

    assert held("ModelPromotion", "vision-detector", "production")
    assert not held("ModelPromotion", "vision-detector", "staging"), "only the protected aliases (production)"
    assert not held("ModelPromotion", "nlp-tagger", "production")
    assert held("Pipeline") and not held("Quota")
    scoped = window.model_copy(update={"tenants": ["nlp"]})
    assert not holds([scoped], now, kind="Pipeline", tenant="vision") and holds(
        [scoped], now, kind="Pipeline", tenant="nlp"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cron", "61 * * * *", "invalid cron expression"),
        ("cron", "0 0 * * * *", "invalid cron expression"),
        ("timeZone", "Mars/Olympus", "unknown time zone"),
        ("timeZone", "Europe", "unknown time zone"),
        ("duration", "2 weeks", "should match pattern"),
        ("duration", "3661d", "longer than 3660 days"),  # beyond, the dates a plan computes overflow
        ("duration", "87865h", "longer than 3660 days"),
        ("duration", "99999999999d", "longer than 3660 days"),
        ("duration", "9" * 5000 + "m", "longer than 3660 days"),
    ],
)
def test_a_bad_window_is_a_clear_error(field: str, value: str, message: str) -> None:
    data = {"name": "w", "cron": "0 18 * * 5", "duration": "2h", field: value}
    with pytest.raises(ValidationError, match=message):
        FreezeWindow.model_validate(data)


def test_the_longest_window_is_judged_without_overflowing_dates() -> None:
    window = FreezeWindow.model_validate({"name": "w", "cron": "@yearly", "duration": "3660d"})
    assert closes(window, datetime(2026, 11, 28, tzinfo=UTC)) == datetime(2036, 1, 9, tzinfo=UTC)


NEW_YORK_NIGHT = FreezeWindow(name="night", cron="0 0 * * *", duration="4h", timeZone="America/New_York", kinds=["*"])


def test_a_4h_window_holds_for_four_real_hours_across_spring_forward() -> None:
    """2024-03-10 00:00 EST is 05:00 UTC; the clocks jump at 02:00, so on the local clock the window would end an
    hour early (08:00 UTC) and a change pushed in its last hour went through."""
    now = datetime(2024, 3, 10, 8, 30, tzinfo=UTC)
    assert closes(NEW_YORK_NIGHT, now) == datetime(2024, 3, 10, 9, 0, tzinfo=UTC)
    assert holds([NEW_YORK_NIGHT], now, kind="Pipeline", tenant="vision")
    assert closes(NEW_YORK_NIGHT, datetime(2024, 3, 10, 9, 0, tzinfo=UTC)) is None, "and not longer"


def test_a_window_across_fall_back_ends_at_the_later_of_elapsed_and_local_time() -> None:
    days = FreezeWindow(name="release", cron="0 0 3 11 *", duration="1d", timeZone="America/New_York", kinds=["*"])
    # opens 2024-11-03 00:00 EDT (04:00 UTC); 24 h later is 11-04 04:00 UTC, the next local midnight 05:00 UTC (EST)
    assert closes(days, datetime(2024, 11, 4, 4, 30, tzinfo=UTC)) == datetime(2024, 11, 4, 5, 0, tzinfo=UTC)
    spring = FreezeWindow(name="release", cron="0 0 9 3 *", duration="2d", timeZone="America/New_York", kinds=["*"])
    # opens 2024-03-09 00:00 EST (05:00 UTC); 48 h later is 2024-03-11 05:00 UTC, the local clock says 04:00 UTC
    assert holds([spring], datetime(2024, 3, 11, 4, 30, tzinfo=UTC), kind="Pipeline", tenant="vision")
