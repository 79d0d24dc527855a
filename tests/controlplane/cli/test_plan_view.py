"""The streamed JSON plan is byte for byte the document `plan.to_dict()` dumps, and reaches stdout whole."""

from __future__ import annotations

import json

import orjson
import pytest

from controlplane.cli.console import print_json, write_chunks
from controlplane.cli.plan_view import JSON_OPTIONS, json_chunks
from controlplane.plans import Action, Change, Decision, FieldDiff, ObjectRef, Plan, SpecKey, SystemStatus

QUOTA = ObjectRef("kubernetes", "v1", "ResourceQuota", "vision", "compute")


def _change(name: str, action: Action) -> Change:
    return Change(
        ObjectRef("kubernetes", "v1", "ConfigMap", "vision", name),
        action,
        "a reason\nover two lines",
        SpecKey("Quota", "vision", "compute"),
        "vision",
        "tenants/vision/quota.yaml",
        40,
        diffs=(FieldDiff(("data", "k"), {"nested": [1, 2]}, None),) if action is Action.update else (),
        desired={"data": {"k": "v", "empty": {}, "list": []}},
        live_version="9",
        decision=Decision(True, "tenant-developer", "allowed", ("bob@example.com",)),
        drift="edited by kubectl-edit" if action is Action.update else None,
    )


def _plan(changes: tuple[Change, ...]) -> Plan:
    systems = (SystemStatus("kubernetes", "https://k", reachable=True, notes=("a note",)),)
    meta = {"requests": {"kubernetes": 16}, "changes": [], "trustedBase": {"revision": "b" * 40}}
    return Plan(changes, revision="a" * 40, repo="/repo", systems=systems, meta=meta)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_streamed_json_is_the_whole_documents_bytes(count: int) -> None:
    plan = _plan(tuple(_change(f"c{i}", [Action.noop, Action.update, Action.create][i % 3]) for i in range(count)))
    whole = orjson.dumps(plan.to_dict(), default=str, option=JSON_OPTIONS)
    streamed = b"".join(json_chunks(plan))
    assert streamed == whole
    assert len(json.loads(streamed)["changes"]) == count


def test_written_chunks_are_the_document_and_a_newline(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    plan = _plan((_change("a", Action.noop), _change("b", Action.update)))
    write_chunks(json_chunks(plan), flush_at=64)
    streamed = capsysbinary.readouterr().out
    print_json(plan.to_dict())
    assert streamed == capsysbinary.readouterr().out
