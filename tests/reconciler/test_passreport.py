"""What a finished pass reports of itself (reconciler.passreport): the log line an operator reads, and the metrics."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler import logs
from reconciler.metrics import Metrics
from reconciler.passreport import describe, report
from reconciler.selection import Selection
from reconciler.verdicts import PassResult


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """The controller's log lines as JSON, whatever handlers other tests left on its logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logs.get()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _read(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_planned_tenants_read_all_a_count_or_nothing_before_a_selection() -> None:
    assert describe(None) == ""
    assert describe(Selection.everything("relist")) == "all"
    assert describe(Selection.only(["vision", "nlp"])) == 2


def test_a_shards_pass_logs_done_in_its_lane_with_what_it_planned_and_counts_itself(lines: io.StringIO) -> None:
    metrics = Metrics()
    result = PassResult(revision="abc123", selection=Selection.only(["vision"]), planned=3, duration=0.25)
    report(result, metrics, "shard-1", backing_off=2)
    [done] = _read(lines)
    assert done["msg"] == "pass done" and done["revision"] == "abc123" and done["shard"] == "shard-1"
    assert done["converged"] is True and done["tenants"] == 1 and done["planned"] == 3
    sample = metrics.registry.get_sample_value
    assert sample("mlcp_reconcile_passes_total", {"result": "converged"}) == 1
    assert sample("mlcp_reconcile_tenants_backing_off") == 2


def test_a_failed_pass_over_damaged_records_warns_first_then_logs_its_stage(lines: io.StringIO) -> None:
    result = PassResult(revision="abc123", error="git fetch failed", stage="fetch", record_problems=("piece 3",))
    report(result, Metrics(), "", backing_off=0)
    warning, failed = _read(lines)
    assert warning["level"] == "warning" and warning["problems"] == ["piece 3"]
    assert failed["msg"] == "pass failed" and failed["stage"] == "fetch" and failed["error"] == "git fetch failed"
    assert "shard" not in failed, "an unsharded pass names no lane"
