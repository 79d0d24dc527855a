"""Text from outside made safe to show to people: on a terminal, in `kubectl describe`, in a browser's source.

What mlcp shows comes partly from outside: commit authors (git takes any byte but `<`, `>` and newline in a name
or an email), tenants' values, the API server's messages that quote them, Argo's step messages, registry tags,
Lease holders. A commit author named to move the cursor up and erase a line could hide a denial in the plan a
reviewer reads, or forge an approval's line. One function decides what is never shown as it is, so the CLI's
consoles and the Events the loop publishes agree.
"""

from __future__ import annotations

import re

_UNSHOWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Characters never shown as they are: C0 controls but tab and newline (ESC starts the sequences that move the
cursor, erase lines, set the window title or make links), DEL, C1 controls (0x9b is a one-byte CSI), and the
bidirectional marks and overrides that reorder what is shown (Trojan Source)."""


def _visible(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: object) -> str:
    """`text` made safe to show: every character of `_UNSHOWABLE` written as an escape (`\\x1b`), the rest as is,
    so a hostile value is visibly odd and harmless. Rich strips only BEL, BS, VT, FF and CR; kubectl none."""
    value = str(text)
    return _UNSHOWABLE.sub(_visible, value) if _UNSHOWABLE.search(value) else value


_UNSHOWABLE_IN_JSON = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]")
"""The UTF-8 of what `_UNSHOWABLE` holds beyond what JSON escapes anyway (C0 controls): DEL, C1 controls and the
bidi marks and overrides. In JSON text they can only be inside strings."""


def json_shown(document: bytes) -> bytes:
    """UTF-8 JSON text with the characters `shown` escapes written as JSON escapes (`\\u202e`): the same document
    to any parser, and safe on the terminal a person pipes `-o json` to. JSON escapes only C0 controls itself."""
    if not _UNSHOWABLE_IN_JSON.search(document):
        return document
    return _UNSHOWABLE_IN_JSON.sub(lambda found: b"\\u%04x" % ord(found.group().decode()), document)
