"""The cluster audit store against an in-memory API: segments, compare-and-set appends, tails, damage."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from controlplane.audit import AuditError, AuditRecord, JsonlStore, Result, fitting, open_intents, verify_file
from controlplane.audit.chain import seal
from reconciler import auditstore
from reconciler.auditstore import ClusterStore
from reconciler.backends.kubernetes import HttpError
from tests.controlplane.audit.conftest import make_record, sealed_line


class FakeConfigMaps:
    """ConfigMaps in one namespace: GET (and LIST by a `key` or `key=value` label selector), POST (409 if it
    exists), PUT with resourceVersion checks, apply PATCH; `before_put` / `before_post` run another writer's turn
    just before the next such request."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.controller_namespace = "mlcp-system"
        self.before_put: list[Any] = []
        self.before_post: list[Any] = []
        self.forbidden = False
        self.sent: list[str] = []

    def request(self, method: str, path: str, query: Any = None, body: Any = None, *_: Any) -> dict[str, Any]:
        name = path.rsplit("/", 1)[1]
        self.sent.append(method)
        if self.forbidden and method != "GET":
            raise HttpError(403, "Forbidden", {"message": 'configmaps is forbidden: User "dev" cannot create'})
        if method == "GET" and name == "configmaps":
            key, _, value = dict(query or [])["labelSelector"].partition("=")
            labelled = [(o, o["metadata"].get("labels") or {}) for o in self.objects.values()]
            return {
                "items": [copy.deepcopy(o) for o, labels in labelled if key in labels and value in ("", labels[key])]
            }
        if method == "GET":
            if name not in self.objects:
                raise HttpError(404, "NotFound", {})
            return copy.deepcopy(self.objects[name])
        if method == "POST":
            while self.before_post:
                self.before_post.pop()()
            name = body["metadata"]["name"]
            if name in self.objects:
                raise HttpError(409, "AlreadyExists", {})
            return self._store(name, body)
        if method == "PUT":
            while self.before_put:
                self.before_put.pop()()
            if name not in self.objects:
                raise HttpError(404, "NotFound", {})
            if body["metadata"].get("resourceVersion") != self.objects[name]["metadata"]["resourceVersion"]:
                raise HttpError(409, "Conflict", {})
            if self.objects[name].get("immutable") is True and body.get("data") != self.objects[name].get("data"):
                message = "data: Forbidden: field is immutable when `immutable` is set"
                raise HttpError(422, "Invalid", {"message": message})
            return self._store(name, body)
        if method == "PATCH":
            return self._store(name, body)
        raise AssertionError(method)

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        found = self.objects.get(path.rsplit("/", 1)[1])
        return copy.deepcopy(found) if found is not None else None

    def _store(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.objects[name] = copy.deepcopy(body)
        self.objects[name]["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.objects[name])

    def segments(self) -> list[str]:
        return sorted(n for n in self.objects if n.startswith(auditstore.SEGMENT_PREFIX))


def _store(api: FakeConfigMaps) -> ClusterStore:
    return ClusterStore(api)  # type: ignore[arg-type]


def test_records_fill_segments_and_read_back_as_the_lines_a_file_log_holds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 4096)
    api = FakeConfigMaps()
    store = _store(api)
    for start in range(0, 40, 7):
        store.append_many([make_record(i) for i in range(start, min(start + 7, 40))])
    assert len(api.segments()) > 5 and all(len(api.objects[s]["data"]["records.jsonl"]) <= 4096 for s in api.segments())
    assert api.objects["mlcp-audit"]["data"]["segment"] == str(len(api.segments()))
    assert store.verify().ok and store.verify().count == 40
    file = JsonlStore(tmp_path / "copy.jsonl")
    file.append_many([make_record(i) for i in range(40)])
    assert b"".join(store.raw_lines()).count(b"\n") == 40
    assert store.head() is not None and store.head() == file.head(), "the same chain a file log would hold"
    assert [r.seq for r in store.tail()] == list(range(40, 0, -1))
    assert _store(api).head() == store.head(), "a fresh reader finds the last segment from the pointer"


def test_a_concurrent_append_is_not_lost_and_never_forks_the_chain() -> None:
    api = FakeConfigMaps()
    store, other = _store(api), _store(api)
    store.append_many([make_record(0)])
    api.before_put.append(lambda: other.append_many([replace(make_record(1), spec="other")]))
    [mine] = store.append_many([replace(make_record(2), spec="mine")])
    assert mine.seq == 3, "sealed again after the other writer's record"
    assert [r.spec for r in store.records()][1:] == ["other", "mine"] and store.verify().ok


def _big(n: int) -> AuditRecord:
    """A record that needs a segment of its own when segments are 4 KiB."""
    return replace(make_record(n), spec="big", diff=({"field": "", "old": None, "new": "x" * 5000},))


def test_a_writer_opening_the_next_segment_and_one_appending_to_the_last_do_not_fork_the_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A writer that appends without the Lease (a refused `mlcp apply` recording its refusal) slips a small record
    into the last segment while the loop, whose records do not fit there, is about to create the next one."""
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 4096)
    api = FakeConfigMaps()
    loop, stray = _store(api), _store(api)
    loop.append_many([replace(make_record(0), spec="first")])
    api.before_post.append(lambda: stray.append_many([replace(make_record(1), spec="stray")]))
    loop.append_many([_big(2)])
    assert store_specs(api) == ["first", "stray", "big"], "every record kept, each after the other"
    assert _store(api).verify().ok and _store(api).verify().count == 3


def test_a_writer_appending_to_the_last_segment_and_one_opening_the_next_do_not_fork_the_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mirror case: the small append comes second, after the other writer created the next segment."""
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 4096)
    api = FakeConfigMaps()
    loop, stray = _store(api), _store(api)
    loop.append_many([replace(make_record(0), spec="first")])
    api.before_put.append(lambda: stray.append_many([_big(1)]))
    loop.append_many([replace(make_record(2), spec="small")])
    assert store_specs(api) == ["first", "big", "small"]
    assert _store(api).verify().ok and _store(api).verify().count == 3


def _old_release_append(api: FakeConfigMaps, record: AuditRecord) -> None:
    """How an mlcp of a release before the compare-and-set on the last segment appended (2eb9b2b98^): into the
    last segment (found from the pointer, then one further while there is one) when the record fits, a PUT with
    the resourceVersion it read, knowing nothing of `mlcp.dev/full`; else a POST of the next segment, which only
    checks that it does not exist. It wrote so without the Lease when it recorded a refused apply."""
    index = int(api.objects["mlcp-audit"]["data"]["segment"])
    while f"mlcp-audit-{index + 1:08d}" in api.objects:
        index += 1
    segment = api.request("GET", f"/api/v1/namespaces/mlcp-system/configmaps/mlcp-audit-{index:08d}")
    text = segment["data"]["records.jsonl"].encode()
    head = auditstore._head(text, "old")
    assert head is not None
    _, line = seal(record, head.seq + 1, head.hash)
    if len(text) + len(line) <= auditstore.SEGMENT_BYTES:
        segment["data"] = {"records.jsonl": (text + line).decode()}
        api.request("PUT", f"/configmaps/{segment['metadata']['name']}", body=segment)
        return
    metadata = {"name": f"mlcp-audit-{index + 1:08d}", "labels": {"mlcp.dev/role": "audit-segment"}}
    api.request("POST", "/configmaps", body={"metadata": metadata, "data": {"records.jsonl": line.decode()}})


def _sized(n: int, room: int, text: bytes) -> AuditRecord:
    """A record whose line leaves `room` bytes in a segment holding `text` (its reason padded)."""
    record = replace(make_record(n), spec="filler", diff=())
    _, line = seal(record, 1, "0" * 64)
    pad = auditstore.SEGMENT_BYTES - len(text) - room - len(line)
    return replace(record, reason="x" * pad)


def _segment_text(api: FakeConfigMaps) -> bytes:
    return str(api.objects[api.segments()[-1]]["data"]["records.jsonl"]).encode()


def _old_writer_at_the_next_write(api: FakeConfigMaps, record: AuditRecord) -> list[HttpError]:
    """The old release's append, run just before the new writer's next PUT or POST; its refusals collected."""
    refused: list[HttpError] = []
    done: list[bool] = []

    def once() -> None:
        if done:
            return
        done.append(True)
        try:
            _old_release_append(api, record)
        except HttpError as exc:
            refused.append(exc)

    api.before_put.append(once)
    api.before_post.append(once)
    return refused


def test_an_old_release_appending_into_a_segment_just_closed_is_refused_not_forking_the_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The new writer closed the last segment and is about to start the next; the old release, which knows
    nothing of closing, put its refusal into the closed segment (its PUT's version was current), and the new
    segment then started from the head before it: two records with one seq, `verify` broken for good."""
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 4096)
    api = FakeConfigMaps()
    loop = _store(api)
    loop.append_many([replace(make_record(0), spec="first")])
    refused: list[HttpError] = []

    def old_release() -> None:  # just before the new writer starts the next segment
        try:
            _old_release_append(api, replace(make_record(1), spec="refusal"))
        except HttpError as exc:
            refused.append(exc)

    api.before_post.append(old_release)
    loop.append_many([_big(2)])
    assert _store(api).verify().ok, _store(api).verify().problem
    assert [e.status for e in refused] == [422], "the old release gets an error: the closed segment is immutable"
    assert store_specs(api) == ["first", "big"]


def test_an_old_release_starting_the_next_segment_beside_an_append_into_the_last_does_not_fork_the_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The old release's refusal did not fit the room left in the last segment, so it started the next one
    without closing the last, while the new writer's smaller record went into the last: a fork. Now a segment
    with less room than a refusal needs is closed, so both write after each other."""
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 4096)
    api = FakeConfigMaps()
    loop = _store(api)
    loop.append_many([replace(make_record(0), spec="first")])
    small = replace(make_record(2), spec="small", diff=(), reason="")
    _, small_line = seal(small, 1, "0" * 64)
    loop.append_many([_sized(1, len(small_line) + 10, _segment_text(api))])  # room for `small`, not a refusal
    refused = _old_writer_at_the_next_write(api, replace(make_record(3), spec="refusal"))
    loop.append_many([small])
    assert _store(api).verify().ok, _store(api).verify().problem
    assert refused == [] and store_specs(api) == ["first", "filler", "refusal", "small"]


def test_a_segment_closed_by_a_writer_that_died_before_opening_the_next_is_continued_in_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 4096)
    api = FakeConfigMaps()
    _store(api).append_many([replace(make_record(0), spec="first")])

    def dies() -> None:
        raise HttpError(500, "the writer died", {})

    api.before_post.append(dies)
    with pytest.raises(AuditError):
        _store(api).append_many([_big(1)])
    assert api.objects["mlcp-audit-00000001"]["metadata"]["annotations"][auditstore.FULL] == "true"
    _store(api).append_many([replace(make_record(2), spec="next")])
    assert len(api.segments()) == 2 and store_specs(api) == ["first", "next"]
    assert _store(api).verify().ok


def test_an_append_after_reading_the_head_is_one_request() -> None:
    """The loop reads the head before its turn's first append and appends a few times a pass: each append is
    one compare-and-set PUT, no read before it."""
    api = FakeConfigMaps()
    store = _store(api)
    store.append_many([make_record(0)])
    store.head()
    api.sent.clear()
    store.append_many([make_record(1)])
    store.append_many([make_record(2)])
    assert api.sent == ["PUT", "PUT"] and store.verify().ok


def store_specs(api: FakeConfigMaps) -> list[str | None]:
    return [r.spec for r in _store(api).records()]


def test_a_missing_segment_is_damage_not_an_empty_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 2048)
    api = FakeConfigMaps()
    _store(api).append_many([make_record(i) for i in range(10)])
    del api.objects[api.segments()[-1]]
    with pytest.raises(AuditError, match=r"segment mlcp-audit-\d+ is missing: the log was damaged"):
        _store(api).append_many([make_record(11)])


@pytest.mark.parametrize("which", [0, 1, -1], ids=["first", "middle", "last"])
def test_a_deleted_segment_breaks_the_chain_where_its_records_were_and_hides_nothing(
    monkeypatch: pytest.MonkeyPatch, which: int
) -> None:
    """Whoever can edit the controller namespace deletes one segment: every later record would be out of sight
    of verify, list and export if reading stopped there, and verify would call the shorter log intact."""
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 2048)
    api = FakeConfigMaps()
    _store(api).append_many([make_record(i) for i in range(20)])
    assert len(api.segments()) >= 4
    gone = api.segments()[which]
    first = int(api.objects[gone]["metadata"]["annotations"]["mlcp.dev/first-seq"])
    del api.objects[gone]
    result = _store(api).verify()
    assert (result.ok, result.count, result.bad_seq) == (False, first - 1, first)
    assert f"segment {gone} is missing" in result.problem
    for reading in (_store(api).records, _store(api).raw_lines, _store(api).tail):
        with pytest.raises(AuditError, match=f"segment {gone} is missing: the log was damaged"):
            list(reading())


def test_segments_a_writer_created_before_moving_the_pointer_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 2048)
    api = FakeConfigMaps()
    _store(api).append_many([make_record(i) for i in range(20)])
    api.objects["mlcp-audit"]["data"]["segment"] = "2"  # the writer died between a POST and the pointer's PATCH
    assert _store(api).verify().count == 20 and len(list(_store(api).records())) == 20


@pytest.mark.parametrize("segment", ["\u00b2", "1" * 5000, "-1", "two"])
def test_a_pointer_naming_no_segment_number_is_a_clear_error(segment: str) -> None:
    api = FakeConfigMaps()
    _store(api).append_many([make_record(0)])
    api.objects["mlcp-audit"]["data"]["segment"] = segment
    for use in (_store(api).head, lambda: _store(api).append(make_record(1)), _store(api).verify):
        with pytest.raises(AuditError, match="the pointer mlcp-system/mlcp-audit is damaged"):
            use()


@pytest.mark.parametrize(
    "fields",
    [
        {"intent": "1e400"},
        {"diff": "[" * 2000 + "]" * 2000},
        {"actors": '"eve"'},
        {"action": '"update","actors":["mallory@example.com"]'},  # a key twice: orjson read the last
    ],
)
def test_a_sealed_record_of_another_shape_in_a_segment_is_a_clear_error(fields: dict[str, str]) -> None:
    api = FakeConfigMaps()
    _store(api).append_many([make_record(0)])
    api.objects["mlcp-audit-00000001"]["data"]["records.jsonl"] = sealed_line(**fields).decode()
    verified = _store(api).verify()  # as every reader refuses it, not "intact" (before: the hashes only)
    assert (verified.bad_seq, verified.count) == (1, 0) and "not an audit record" in verified.problem
    with pytest.raises(AuditError, match="record 1: not an audit record"):
        list(_store(api).records())


def test_a_writer_without_rights_gets_a_clear_error_naming_what_it_needs() -> None:
    api = FakeConfigMaps()
    api.forbidden = True
    with pytest.raises(AuditError, match="cannot write the audit log") as caught:
        _store(api).append_many([make_record(0)])
    assert "get, create and update on ConfigMaps" in caught.value.hint


def test_a_record_too_large_for_a_segment_keeps_its_place_without_its_diff() -> None:
    """A tenant member's allowed pipeline with a 300,000-character description in another script (6 bytes each
    as escaped JSON): its create's intent did not fit a segment, so every pass of the loop stopped before its
    first write, for every tenant, until the commit was reverted. Now the record is written without its diff."""
    api = FakeConfigMaps()
    desired = {"spec": {"arguments": {"parameters": [{"name": "p", "description": "é" * 300_000}]}}}
    huge = replace(
        make_record(0), action="create", reason="r" * 900_000, diff=({"field": "", "old": None, "new": desired},)
    )
    written = _store(api).append_many([make_record(1), huge, make_record(2)])
    assert [r.seq for r in written] == [1, 2, 3]
    stored = list(_store(api).records())
    assert [entry["field"] for entry in stored[1].diff] == [fitting.OMITTED]
    assert "the diff is left out" in stored[1].diff[0]["new"] and stored[1].after == huge.after
    assert stored[1].reason.endswith("characters more, cut to fit the log)") and len(stored[1].reason) < 20_000
    assert stored[2].diff == make_record(2).diff, "the records around it keep theirs"
    assert _store(api).verify().ok


def test_a_record_too_large_even_without_its_diff_is_refused_before_anything_is_written() -> None:
    api = FakeConfigMaps()
    huge = replace(make_record(0), actors=("x" * auditstore.MAX_RECORD_BYTES,))
    with pytest.raises(AuditError, match="does not fit the log"):
        _store(api).append_many([make_record(1), huge])
    assert api.segments() == []


def test_open_intents_are_found_from_the_tail_across_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 2048)
    api = FakeConfigMaps()
    store = _store(api)
    store.append_many([make_record(i) for i in range(6)])
    intents = store.append_many([replace(make_record(i), result=Result.pending) for i in range(4)])
    store.append_many([replace(make_record(9), intent=intents[0].seq)])
    assert [r.seq for r in open_intents(store.tail())] == [r.seq for r in intents[1:]]


def test_a_segment_is_split_into_lines_where_its_export_is(tmp_path: Path) -> None:
    """`bytes.splitlines` split a segment at a carriage return too: the live log and its export (the same bytes,
    read as a file) disagreed about what the lines are, and so about where the chain breaks."""
    api = FakeConfigMaps()
    _store(api).append_many([make_record(0), make_record(1)])
    segment = api.objects["mlcp-audit-00000001"]["data"]
    segment["records.jsonl"] = segment["records.jsonl"].replace('"update"', '"upd\rate"', 1)
    assert len(list(_store(api).raw_lines())) == 2
    exported = tmp_path / "export.jsonl"
    exported.write_bytes(b"".join(_store(api).raw_lines()))
    assert _store(api).verify() == verify_file(exported)
    assert (verify_file(exported).bad_seq, verify_file(exported).count) == (1, 0)
