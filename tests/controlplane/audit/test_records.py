"""Canonical JSON: the bytes every audit record's hash is taken over."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.audit.records import canonical_json


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
    ],
)
def test_canonical_json_is_the_form_existing_chains_were_sealed_with(data: Any) -> None:
    expected = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    assert canonical_json(data) == expected
