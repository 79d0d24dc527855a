"""Filtering records: the questions auditors ask (who touched tenant X, what was denied last week).

A `Query` is a value, so the CLI, the HTML report and tests share one meaning
for each filter. Times are compared as strings: records store fixed-width UTC
(`2024-06-01T12:00:00.000000Z`), and bounds are normalized to the same form.

`by_change` folds each write's intent into its outcome, so readers see one line
per change with what happened to it (and `pending` for an intent whose outcome
has not been written).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from controlplane.audit.records import AuditError, AuditRecord, Result, Verdict, format_time

_AGO = re.compile(r"([0-9]{1,9})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime | None = None) -> str:
    """An ISO date/time (UTC unless it says otherwise) or an age like `30m`, `24h`, `7d`, as a record time."""
    ago = _AGO.fullmatch(text.strip())
    try:
        if ago:
            moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
            return format_time(moment)
        return format_time(datetime.fromisoformat(text.strip()))
    except (ValueError, OverflowError):
        raise AuditError(
            f"{text!r} is not a time", "use an ISO date or time (2024-06-01, 2024-06-01T12:00Z) or an age (24h, 7d)"
        ) from None


@dataclass(frozen=True, slots=True)
class Query:
    """Every given filter must match; None matches anything. Actor and kind ignore case."""

    tenant: str | None = None
    kind: str | None = None
    actor: str | None = None
    since: str | None = None
    until: str | None = None
    decision: Verdict | None = None
    result: Result | None = None

    def matches(self, record: AuditRecord) -> bool:
        if self.tenant is not None and record.tenant != self.tenant:
            return False
        if self.kind is not None and record.kind.lower() != self.kind.lower():
            return False
        if self.actor is not None and not any(self.actor.lower() in a.lower() for a in record.actors):
            return False
        if self.since is not None and record.time < self.since:
            return False
        if self.until is not None and record.time > self.until:
            return False
        if self.decision is not None and record.decision is not self.decision:
            return False
        return self.result is None or record.result is self.result

    def select(self, records: Iterable[AuditRecord]) -> Iterator[AuditRecord]:
        return (r for r in records if self.matches(r))


def by_change(records: Iterable[AuditRecord]) -> Iterator[AuditRecord]:
    """One record per change, in log order: each outcome carrying its intent's diff; open intents last."""
    intents: dict[int, AuditRecord] = {}
    for record in records:
        if record.is_intent:
            intents[record.seq] = record
            continue
        intent = intents.pop(record.intent, None) if record.intent is not None else None
        yield replace(record, diff=intent.diff) if intent is not None and not record.diff else record
    yield from intents.values()
