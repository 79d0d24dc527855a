"""The regular expressions in an expr-lang expression (`stopWhen`, a `{{= ... }}` tag) that Go's regexp refuses.

Argo evaluates a CronWorkflow's `stopStrategy.expression` and every `{{= ... }}`
tag with expr-lang (v1.17.7 in Argo v4.0.5), whose parser compiles the pattern
of `x matches "literal"` with Go's regexp when it compiles the expression: a
pattern Go refuses (a backreference, lookaround) fails every tick's stop check,
or the step, with "error parsing regexp". No Python library parses expr-lang, so
this module reads only what that needs, as expr-lang's lexer does: string
literals (`"..."` and `'...'` with Go's escapes, `` `raw` ``), comments (`//`,
`/* */`), and the word `matches` with the literal right after it. A pattern
built at run time (`x matches y`) is left to the run. The pattern itself is
judged by `goregexp`, never stricter than Go.
"""

from __future__ import annotations

import re

from controlplane import goregexp

_TOKEN = re.compile(
    r"""(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<raw>`[^`]*`)|(?P<comment>//[^\n]*|/\*.*?\*/)"""
    r"""|(?P<word>[A-Za-z_$][A-Za-z0-9_$]*)|(?P<space>\s+)|(?P<other>.)""",
    re.DOTALL,
)
HINT = (
    "write RE2 syntax (no backreferences like \\1, no lookaround like (?=); in a quoted expr-lang string a "
    "backslash is written twice ('\\\\d+'), or use a `raw` string"
)
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_WIDTH = {"x": 2, "u": 4, "U": 8}


def problem(expression: str) -> str | None:
    """Why expr-lang's compile fails on a `matches` pattern of `expression`, or None."""
    after_matches = False
    for token in _TOKEN.finditer(expression):
        kind = token.lastgroup
        if kind in ("space", "comment"):
            continue
        if after_matches and kind in ("str", "raw"):
            literal = token.group()
            pattern = literal[1:-1] if kind == "raw" else _unescape(literal[1:-1], literal[0])
            if pattern is None:
                return f"the string {_shown(literal)} has an escape expr-lang does not know"
            why = goregexp.problem(pattern)
            if why is not None:
                return f"the pattern {_shown(literal)} after `matches` is not one Go's regexp compiles ({why})"
        after_matches = kind == "word" and token.group() == "matches"
    return None


def _unescape(body: str, quote: str) -> str | None:
    """A quoted literal's value as expr-lang's unescape reads it (Go's escapes; of the quotes only the literal's
    own), or None for an escape it refuses."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _SIMPLE or nxt == quote:
            out.append(_SIMPLE.get(nxt, nxt))
            i += 2
        elif nxt in _WIDTH:
            digits = body[i + 2 : i + 2 + _WIDTH[nxt]]
            if len(digits) != _WIDTH[nxt] or not all(c in "0123456789abcdefABCDEF" for c in digits):
                return None
            code = int(digits, 16)
            if code > 0x10FFFF or (nxt != "x" and 0xD800 <= code <= 0xDFFF):
                return None
            out.append(chr(code))
            i += 2 + _WIDTH[nxt]
        elif nxt in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits) or int(digits, 8) > 255:
                return None
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            return None
    return "".join(out)


def _shown(literal: str) -> str:
    return goregexp.printable(literal, 60)
