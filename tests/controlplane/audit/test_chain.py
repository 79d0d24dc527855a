"""The chain construction is exactly what docs/audit.md documents, so other tools can verify it."""

from __future__ import annotations

import hashlib
import json

import pytest

from controlplane.audit import GENESIS, AuditError, Head
from controlplane.audit.chain import seal, split_line
from controlplane.audit.records import canonical_json, digest
from tests.controlplane.audit.conftest import make_record


def test_a_sealed_line_is_one_flat_json_object_ending_in_its_hash() -> None:
    record, line = seal(make_record(1), 1, GENESIS)
    data = json.loads(line)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert list(data)[:2] == ["seq", "prev"] and list(data)[-1] == "hash"
    assert data["seq"] == 1 and data["prev"] == GENESIS and data["hash"] == record.hash
    assert record.sealed and record.seq == 1


def test_hash_is_node_of_prev_and_leaf_of_the_body_with_domain_separation() -> None:
    first, _ = seal(make_record(1), 1, GENESIS)
    second, line = seal(make_record(2), 2, first.hash)
    body = line[: -len(b',"hash":"') - 64 - 3] + b"}"
    content = canonical_json(make_record(2).content())
    assert body == b'{"seq":2,"prev":"' + first.hash.encode() + b'",' + content[1:]
    leaf = hashlib.sha256(b"\x00" + body).digest()
    assert second.hash == hashlib.sha256(b"\x01" + bytes.fromhex(first.hash) + leaf).hexdigest()


def test_split_line_refuses_anything_not_laid_out_as_a_sealed_line() -> None:
    _, line = seal(make_record(1), 1, GENESIS)
    parts = split_line(line)
    assert parts is not None and json.loads(parts[0])["seq"] == 1
    assert split_line(line[:-1]) is None
    assert split_line(line.replace(b'"hash"', b'"hasx"')) is None
    assert split_line(b"{}\n") is None


def test_digest_is_of_canonical_json_so_key_order_does_not_matter() -> None:
    assert digest({"b": 1, "a": [1, 2]}) == digest({"a": [1, 2], "b": 1})
    assert digest({"a": 1}) == "sha256:" + hashlib.sha256(b'{"a":1}').hexdigest()
    assert digest(None) is None


def test_anchor_round_trips_and_refuses_garbage() -> None:
    head = Head(7, "c" * 64)
    assert Head.parse(str(head)) == head
    for bad in ("7", "x:" + "c" * 64, "0:" + "c" * 64, "7:abc"):
        with pytest.raises(AuditError, match="not an anchor"):
            Head.parse(bad)
    assert Head.parse("9" * 19 + ":" + "c" * 64).seq == 10**19 - 1


@pytest.mark.parametrize("seq", ["\u00b2", "\u0663", "1" * 20, "1" * 5000], ids=["superscript", "arabic", "20", "5000"])
def test_an_anchor_whose_seq_is_no_plain_number_is_refused_as_one(seq: str) -> None:
    """`"²".isdigit()` is true and `int("²")` raises ValueError; `int` of more than 4,300 digits too: the anchor
    comes from the cluster or a file, and a ValueError was a traceback in the CLI and a crashed pass in the loop."""
    with pytest.raises(AuditError, match="is not an anchor") as caught:
        Head.parse(f"{seq}:{'c' * 64}")
    assert len(str(caught.value)) < 300, "the message quotes a bounded part of what it refuses"
