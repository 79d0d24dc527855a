"""Outside text made safe to show: escape sequences, C1 controls and bidi marks become visible escapes."""

from __future__ import annotations

import orjson
import pytest

from controlplane.showable import json_shown, shown

HOSTILE = [
    ("\x1b[1A\x1b[2K", "\\x1b[1A\\x1b[2K"),  # cursor up, erase the line: hides the line above
    ("\x1b]8;;https://evil.example\x1b\\ok\x1b]8;;\x1b\\", "\\x1b]8;;https://evil.example\\x1b\\ok\\x1b]8;;\\x1b\\"),
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # the window title
    ("\x9b2K", "\\x9b2K"),  # the one-byte CSI of C1
    ("\r✓ allowed", "\\x0d✓ allowed"),  # back to the start of the line
    ("admin\u202e@example.com", "admin\\u202e@example.com"),  # right-to-left override
    ("a\u2066b\u2069c\u200fd", "a\\u2066b\\u2069c\\u200fd"),
    ("\x00\x7f", "\\x00\\x7f"),
]


@pytest.mark.parametrize(("text", "expected"), HOSTILE)
def test_control_characters_and_bidi_marks_are_shown_as_escapes(text: str, expected: str) -> None:
    assert shown(text) == expected


def test_ordinary_text_is_left_as_it_is() -> None:
    for text in ("alice@example.com", "línea\tcon tab\ny más", "模型-v2 🚀", "50% of [cpu]"):
        assert shown(text) == text


def test_json_escapes_exactly_what_shown_escapes_beyond_c0_and_the_document_is_the_same() -> None:
    """Every character of the Basic Multilingual Plane but the surrogates, one by one: escaped in JSON text
    exactly when `shown` escapes it (C0 controls are JSON's own escapes), and the escaped document parses to
    the same value."""
    for code in [*range(0x20, 0xD800), *range(0xE000, 0x10000)]:
        character = chr(code)
        document = orjson.dumps({"v": f"a{character}b"})
        escaped = json_shown(document)
        assert (escaped != document) == (shown(character) != character), hex(code)
        assert orjson.loads(escaped) == {"v": f"a{character}b"}, hex(code)


def test_json_output_of_a_hostile_value_is_escaped_and_ordinary_text_left_alone() -> None:
    hostile = orjson.dumps({"author": "admin\u202e@example.com", "note": "\x9b2K"})
    assert json_shown(hostile) == b'{"author":"admin\\u202e@example.com","note":"\\u009b2K"}'
    plain = orjson.dumps({"name": "línea 模型-v2 🚀"})
    assert json_shown(plain) is plain
