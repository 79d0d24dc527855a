"""Characters that make a spec file read differently by people than by mlcp: refused before it is parsed.

YAML takes U+0085, U+2028 and U+2029 as line breaks; `git diff`, terminals and most editors do not. So
`cpu: "4"  # raise later<U+2028>gpu: "8"` is one line with a comment to whoever reviews the change and two
entries to mlcp: a reviewer, or a model approver whose approval binds to the file's content, approves what they
cannot see. The bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder how a
line is shown (Trojan Source), so text can look like a comment or a value it is not. The marks (U+200E, U+200F,
U+061C) are left alone: they only nudge where neutral characters sit, and names and values are checked anyway.
"""

from __future__ import annotations

import re

from controlplane.errors import Diagnostic

_HIDDEN = re.compile("[\x85\u2028\u2029\u202a-\u202e\u2066-\u2069]")

_NAMES = {
    "\x85": "NEXT LINE",
    "\u2028": "LINE SEPARATOR",
    "\u2029": "PARAGRAPH SEPARATOR",
    "\u202a": "LEFT-TO-RIGHT EMBEDDING",
    "\u202b": "RIGHT-TO-LEFT EMBEDDING",
    "\u202c": "POP DIRECTIONAL FORMATTING",
    "\u202d": "LEFT-TO-RIGHT OVERRIDE",
    "\u202e": "RIGHT-TO-LEFT OVERRIDE",
    "\u2066": "LEFT-TO-RIGHT ISOLATE",
    "\u2067": "RIGHT-TO-LEFT ISOLATE",
    "\u2068": "FIRST STRONG ISOLATE",
    "\u2069": "POP DIRECTIONAL ISOLATE",
}


def problem(text: str, rel: str) -> Diagnostic | None:
    """The first such character of `text` (the file `rel`), at the line and column an editor shows; None if
    there is none."""
    found = _HIDDEN.search(text)
    if found is None:
        return None
    char, at = found.group(), found.start()
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    more = len(_HIDDEN.findall(text)) - 1
    breaks = char in "\x85\u2028\u2029"
    effect = (
        "a line break to YAML that viewers and `git diff` do not show, so the text after it reads as part of "
        "this line to a reviewer and as a line of its own to mlcp"
        if breaks
        else "a bidirectional control that reorders how the line is shown, so a reviewer does not read what mlcp reads"
    )
    also = f" ({more} more in the file)" if more else ""
    return Diagnostic(
        rel,
        line,
        column,
        f"U+{ord(char):04X} ({_NAMES[char]}) is {effect}{also}; the file is not read",
        "delete it: write a real line break, or the text without direction controls",
        "yaml",
    )
