"""Time zones by IANA name only, the same on every machine.

A zone name is resolved wherever the schedule runs: Argo's workflow-controller
(Go's `time.LoadLocation`, the host's zone files first, then the tzdata its
binary embeds) for a pipeline's schedule, mlcp itself for an AccessPolicy's
freeze windows. `Local`, `localtime`, `posixrules` and `posix/...`/`right/...`
resolve (or not) from whatever that machine has, so the same spec would run at
different hours, or not at all, depending on where it is read. Only the names
the IANA database lists (the `tzdata` package mlcp depends on, which Python's
`zoneinfo` also reads) are accepted, spelled exactly: a machine's own zone files
never widen or narrow the set.
"""

from __future__ import annotations

import functools
import importlib.resources

EXAMPLES = "UTC or Europe/Berlin"


@functools.cache
def iana_names() -> frozenset[str]:
    """Every zone (and backward link, like US/Pacific) of the IANA database mlcp ships."""
    return frozenset(importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


def problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone name, or None."""
    if name in iana_names():
        return None
    if name in ("Local", "localtime") or name.startswith(("posix", "right/")):
        return (
            f"{name!r} means whatever the machine that reads it is set to (or its own copy of a zone): "
            "name the zone itself"
        )
    folded = {n.lower(): n for n in iana_names()}.get(name.lower())
    if folded is not None:
        return f"unknown time zone {name!r}: zone names are case-sensitive, write {folded!r}"
    return f"unknown time zone {name!r}"
