"""Canonical JSON: the bytes every audit record's hash is taken over."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlplane.audit import AuditRecord, records
from controlplane.audit.records import canonical_json
from tests.controlplane.audit.conftest import make_record


def _stdlib(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@pytest.mark.parametrize(
    "data",
    [
        {"b": 1, "a": [1, 2, 'x\n\t\x01\x1f"\\/'], "n": None, "t": True},
        {"k": "\x7f"},
        {"name": "Zoë", "ключ": "значение"},
        {"goal": 1e-05, "big": 1e16, "tenth": 0.1, "round": 100.0, "neg": -2.5},
        {"huge": 2**70},
        {"text": "looks like a float: [1.5, 2e3]"},
        {1: "non-string key"},
        {"time": "2026-11-30T13:23:33.383982Z", "after": "sha256:6edcaafb2dbe2ea1a43343f68758ea15"},
        {"quoted": 'a \\"1.5', "list": [1, "x", 2.5e-7], "esc": "\\", "n": 3},
        {"1.5": 1, "e": [1e300, -0.0]},
    ],
)
def test_canonical_json_is_the_form_existing_chains_were_sealed_with(data: Any) -> None:
    assert canonical_json(data) == _stdlib(data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON)
def test_canonical_json_matches_the_stdlib_form_for_any_json(data: Any) -> None:
    assert canonical_json(data) == _stdlib(data)


def test_a_record_with_times_and_digests_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Times and digests hold digits before `.` and `e`, inside strings: they are not numbers, so a usual
    record is written by orjson alone (the stdlib path cost about half an apply's audit CPU)."""
    content = {
        "time": "2026-11-30T13:23:33.383982Z",
        "after": "sha256:6e0a" + "0" * 60,
        "target": {"kind": "Namespace", "name": "t-1.5e3"},
        "diff": [{"field": "", "new": {"metadata": {"labels": {"v": "1.2"}}, "replicas": 3}}],
    }
    expected = _stdlib(content)

    def refuse(*_args: Any, **_kwargs: Any) -> str:
        raise AssertionError("the stdlib path was taken")

    monkeypatch.setattr(records.json, "dumps", refuse)
    assert canonical_json(content) == expected


def test_a_null_edited_to_infinity_in_the_log_no_longer_hashes_the_same() -> None:
    """JSON has no spelling for infinity; Python's json reads `Infinity` back as a float. orjson wrote it as
    `null`, so an edit of a recorded `null` to `Infinity` kept the digest: the record is now hashed as sealed."""
    recorded = {"field": "spec.replicas", "old": None, "new": 3}
    edited = json.loads(json.dumps(recorded).replace("null", "Infinity"))
    assert edited["old"] == float("inf")
    assert canonical_json(edited) != canonical_json(recorded)
    assert canonical_json(edited) == _stdlib(edited)


_WITH_NON_FINITE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_WITH_NON_FINITE)
def test_a_nan_or_infinity_anywhere_is_spelled_as_the_stdlib_spells_it(data: Any) -> None:
    """Every record has a `null`, so the search for a non-finite float runs on each: it must find one at any depth,
    in lists, tuples and dicts (orjson would write it as `null`)."""
    assert canonical_json(data) == _stdlib(data)


class _Dict(dict[str, Any]):
    pass


class _Float(float):
    pass


def test_subclasses_of_the_json_types_are_searched_too() -> None:
    assert not records._floatless(_Dict(a=[None, "x", _Float("nan")]))
    assert not records._floatless([_Dict(a=(1, float("-inf")))])
    assert not records._floatless(_Dict(a=[None, "x", _Float("1.5"), True, 3]))
    assert records._floatless(_Dict(a=[None, "x", True, 3, ("y", {"z": -(2**40)})]))


@dataclass
class _Point:
    x: int


def test_a_value_json_cannot_write_is_refused_as_json_refuses_it() -> None:
    """orjson writes a dataclass (or a datetime) by itself; `json`, the form every chain is sealed in, refuses it.
    The bytes must never depend on which of the two wrote them, so such a value takes the `json` path."""
    with pytest.raises(TypeError):
        canonical_json({"at": _Point(1)})
    with pytest.raises(TypeError):
        canonical_json({"at": datetime(2026, 12, 1, tzinfo=UTC)})


def test_a_stored_record_reads_back_as_it_was_written() -> None:
    record = replace(make_record(3), seq=4, prev="a" * 64, hash="b" * 64, intent=2, version="7", approvers=("bob",))
    record = replace(record, gates=({"metric": "auc", "passed": True},), verified=record.actors)
    assert AuditRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", "1"),
        ("seq", True),
        ("intent", 1e400),
        ("intent", 1.0),
        ("actors", "eve@example.com"),
        ("actors", [["eve@example.com"]]),
        ("target", "ConfigMap/x"),
        ("tenant", ["nlp"]),
        ("decision", ["allow"]),
        ("reason", {"why": "x"}),
        ("diff", ["spec.image"]),
        ("diff", [{"field": 1, "old": 1, "new": 2}]),
        ("gates", [0.9]),
        ("version", 2),
        ("approvers", "bob"),
        ("verified", "alice@example.com"),
        ("verified", ["mallory@example.com"]),  # someone the record does not name as an actor
    ],
)
def test_a_record_of_another_shape_than_mlcp_writes_is_refused_never_converted(field: str, value: Any) -> None:
    """A sealed line is anyone's to write; each reader relies on the types (a string of actors was iterated as
    characters, a diff of strings crashed `show`, an intent of 1e400 raised OverflowError)."""
    data = make_record(0).to_dict() | {field: value}
    with pytest.raises((TypeError, ValueError), match=field):
        AuditRecord.from_dict(data)


_ODD_VALUES: list[Any] = [None, True, 0, 2, 1.5, "", "x", "allow", "applied", [], ["a"], [1], [{}], [{"field": 1}], {}]


def _slow(data: dict[str, Any]) -> AuditRecord | BaseException:
    """What `from_dict`'s field-by-field reading makes of `data` (the quick reading left out)."""
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(records, "_usual", lambda cls, data: None)
            return AuditRecord.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        return exc


@pytest.mark.parametrize("key", records._KEYS)
def test_the_quick_reading_takes_exactly_what_the_field_by_field_reading_takes(key: str) -> None:
    """The readers' quick path (exact types in one pass) must never take a record the careful one refuses, nor
    read one differently: every field replaced by a value of each JSON type, or left out."""
    base = replace(make_record(3), intent=7, version="2", approvers=("a@x",), verified=("ana@example.com",))
    full = {**base.with_chain(1, "0" * 64, "f" * 64).to_dict(), "actors": ["ana@example.com"]}
    assert records._usual(AuditRecord, full) == _slow(full), "a usual record takes the quick path"
    for value in [*_ODD_VALUES, KeyError]:
        data = {k: v for k, v in full.items() if k != key} if value is KeyError else {**full, key: value}
        quick, slow = records._usual(AuditRecord, data), _slow(data)
        if quick is not None:
            assert quick == slow and quick.hash == getattr(slow, "hash", None), (key, value)
        if not isinstance(slow, BaseException):
            assert AuditRecord.from_dict(data) == slow
