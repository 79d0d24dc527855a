"""Time zones by IANA name only: a name that means whatever the reading machine has is refused everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from controlplane import timezones
from controlplane.specs.access_policy import FreezeWindow
from tests.controlplane.helpers import assert_problem, edit, line_of

TRAIN = "tenants/vision/pipelines/train-detector.yaml"
MACHINE_DEPENDENT = ["Local", "localtime", "posixrules", "posix/Europe/Berlin", "right/UTC"]
"""Go's LoadLocation answers `Local` with the controller's own zone and reads the others from the host's zone files
(Python's zoneinfo takes `localtime`, `posixrules` and `posix/...` from this machine's)."""


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York", "US/Pacific", "Etc/GMT+5"])
def test_iana_names_are_accepted(zone: str) -> None:
    assert timezones.problem(zone) is None


@pytest.mark.parametrize("zone", MACHINE_DEPENDENT)
def test_a_name_that_depends_on_the_machine_is_refused(zone: str) -> None:
    assert "whatever the machine" in (timezones.problem(zone) or "")


def test_a_zone_in_the_wrong_case_is_named_as_it_is_spelled() -> None:
    assert "write 'Europe/Berlin'" in (timezones.problem("europe/berlin") or "")


@pytest.mark.parametrize("zone", MACHINE_DEPENDENT)
def test_a_schedule_in_the_machines_zone_is_refused_at_its_line(repo: Path, zone: str) -> None:
    path = edit(repo, TRAIN, "timezone: Europe/Berlin", f"timezone: {zone}")
    found = assert_problem(repo, TRAIN, line_of(path, "timezone:"), "whatever the machine", column=15)
    assert "IANA" in found.hint


@pytest.mark.parametrize("zone", MACHINE_DEPENDENT)
def test_a_freeze_window_in_the_machines_zone_is_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="whatever the machine"):
        FreezeWindow.model_validate({"name": "w", "cron": "0 18 * * 5", "duration": "2h", "timeZone": zone})
