"""Whether Go's `regexp.Compile` accepts a pattern: what Argo's `when` does with the text after `=~` and `!~`.

govaluate compiles a quoted pattern with Go's regexp when it parses the
expression (and any other pattern when it evaluates it), so a pattern Go
refuses (a backreference `\\1`, a lookahead `(?=`, a possessive `a++`) fails
the step every time it is due, after the spec merged and applied.

Go's regexp is RE2 syntax, and RE2's own parser (the `google-re2` binding)
reads it. Where the two differ this module follows Go, and is never stricter
than Go (a refused pattern that Go runs is the worse mistake):

- `\\C` (any byte) is RE2's and not Go's: refused here, as Go refuses it.
- `\\p{...}` names are Go's Unicode tables (case-insensitive, with aliases
  since Go 1.25), not RE2's: every name is taken as known (Go may still
  refuse a name no table holds; that is left to the run).
- A pattern RE2 parses but cannot fit in its memory budget (`\\pL{1000}` is
  one instruction to Go and a large UTF-8 automaton to RE2) is taken as valid:
  only RE2's parse errors are Go's errors. The budget bounds the work.

Checked against Go 1.26 (the toolchain of Argo v4.0.5's controller) by
differential fuzzing (tests/controlplane/test_goregexp.py has the cases).
"""

from __future__ import annotations

import re

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is our answer, not a line on mlcp's stderr
_OPTIONS.max_mem = 1 << 20
"""RE2's compile budget: a pattern past it is judged by its parse alone (see the module docstring)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_TOO_LARGE = "pattern too large"
_ANY_CLASS = "\\pL"
"""What every `\\p`/`\\P` class is read as: a class RE2 knows, so only the rest of the pattern is judged."""


def problem(pattern: str) -> str | None:
    """Why Go's `regexp.Compile(pattern)` fails, or None when it compiles (or may)."""
    text, why = _for_re2(pattern)
    if why is not None:
        return why
    try:
        re2.compile(text, _OPTIONS)
    except re2.error as exc:
        message = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return None if _TOO_LARGE in message else printable(message)
    return None


def printable(text: str, limit: int = 100) -> str:
    """`text` cut to `limit` characters with control characters escaped: RE2's message quotes the pattern, which a
    committer wrote, and it is shown on a reviewer's terminal."""
    cut = text if len(text) <= limit else text[: limit - 3] + "..."
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in cut)


def _for_re2(pattern: str) -> tuple[str, str | None]:
    """The pattern with Go's and RE2's differences taken out, or why Go refuses it (`\\C`)."""
    pattern = _SURROGATE.sub("\ufffd", pattern)  # a lone surrogate reaches Go (through JSON) as U+FFFD
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch != "\\" or i + 1 == n:
            out.append(ch)
            i += 1
            continue
        nxt = pattern[i + 1]
        if nxt == "Q":  # literal text up to `\E` (or the end): no escape inside means anything
            end = pattern.find("\\E", i + 2)
            stop = n if end < 0 else end + 2
            out.append(pattern[i:stop])
            i = stop
        elif nxt == "C":
            return pattern, "invalid escape sequence: `\\C` (Go's regexp has no any-byte class)"
        elif nxt in "pP":
            close = pattern.find("}", i + 3) if pattern.startswith("{", i + 2) else i + 2
            if close < 0 or close >= n:
                out.append(pattern[i:])  # unclosed or nothing named: RE2 and Go refuse it alike
                break
            out.append(_ANY_CLASS)
            i = close + 1
        else:
            out.append(pattern[i : i + 2])
            i += 2
    return "".join(out), None
