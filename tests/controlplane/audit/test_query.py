"""Filters mean the same thing in `mlcp audit list`, the report and the library."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controlplane.audit import AuditError, Result, Verdict
from controlplane.audit.query import Query, parse_time
from tests.controlplane.audit.conftest import make_record

RECORDS = [make_record(i) for i in range(12)] + [make_record(12, result=Result.denied, decision=Verdict.deny)]


def _specs(query: Query) -> list[str | None]:
    return [r.spec for r in query.select(RECORDS)]


def test_each_filter_narrows_and_they_combine() -> None:
    assert len(_specs(Query())) == 13
    assert {r.tenant for r in Query(tenant="nlp").select(RECORDS)} == {"nlp"}
    assert {r.kind for r in Query(kind="resourcequota").select(RECORDS)} == {"ResourceQuota"}
    assert {r.actors for r in Query(actor="BOB").select(RECORDS)} == {("bob@example.com",)}
    assert _specs(Query(decision=Verdict.deny)) == ["Pipeline/nlp/p12"]
    assert _specs(Query(result=Result.denied, tenant="vision")) == []
    assert _specs(Query(tenant="nlp", kind="WorkflowTemplate")) == [
        "Pipeline/nlp/p0",
        "Pipeline/nlp/p6",
        "Pipeline/nlp/p12",
    ]


def test_time_bounds_are_inclusive() -> None:
    since, until = parse_time("2024-06-03"), parse_time("2024-06-04T10:00:03Z")
    assert [r.time[:10] for r in Query(since=since, until=until).select(RECORDS)] == ["2024-06-03", "2024-06-04"]


def test_parse_time_accepts_iso_and_ages() -> None:
    now = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
    assert parse_time("7d", now=now) == "2024-06-03T12:00:00.000000Z"
    assert parse_time("30m", now=now) == "2024-06-10T11:30:00.000000Z"
    assert parse_time("2024-06-01T14:00+02:00") == "2024-06-01T12:00:00.000000Z"
    with pytest.raises(AuditError, match="'yesterday' is not a time"):
        parse_time("yesterday")
    for huge in ("99999999999d", "9999999w", "\u00b2d"):
        with pytest.raises(AuditError, match="is not a time"):
            parse_time(huge)
