"""govaluate's lexer as Argo's `when` reaches it: its tokens, and which token may follow which.

Part of `controlplane.govaluate`. Knetic/govaluate (archived; the revision Argo
v4.0.5's go.mod pins) reads an expression in two passes before planning it: a
lexer (numbers, `0x` hex, quoted strings with `\\` escapes, words, `[escaped]`
words, `true`/`false`, `in`, operator runs) and a check of each token against
the kind before it (lexerState.go, `checkExpressionSyntax`) with balanced
parentheses. Both fail the step at run time; this module reproduces them, with
a substituted `{{...}}` tag read as one operand of unknown kind (`TAGGED`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_LENGTH = 4096
"""Longer expressions are refused before they are read: a `when` is a condition, not a program."""
MAX_DEPTH = 64
"""Parentheses and prefixes nested deeper than this are refused (the reader recurses)."""

TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
MARK = "\ua66c"
"""Stands for a substituted tag while lexing: a letter, so govaluate's lexer reads it as part of a word."""

NUM, BOOL, STR, WORD, TIME, ACC, OPEN, CLOSE, COMP, MOD, LOGIC, PREFIX, TERN, SEP, TAGGED = (
    "NUMERIC",
    "BOOLEAN",
    "STRING",
    "VARIABLE",
    "TIME",
    "ACCESSOR",
    "CLAUSE",
    "CLAUSE_CLOSE",
    "COMPARATOR",
    "MODIFIER",
    "LOGICALOP",
    "PREFIX",
    "TERNARY",
    "SEPARATOR",
    "TAG",
)
_VALUES = (NUM, BOOL, WORD, ACC, STR, TIME)
_AFTER_VALUE = (MOD, COMP, LOGIC, CLOSE, TERN, SEP)
NEXT: dict[str, tuple[str, ...]] = {
    "START": (PREFIX, NUM, BOOL, WORD, ACC, STR, TIME, OPEN),
    OPEN: (PREFIX, NUM, BOOL, WORD, ACC, STR, TIME, OPEN, CLOSE),
    CLOSE: (COMP, MOD, NUM, BOOL, WORD, STR, TIME, OPEN, CLOSE, LOGIC, TERN, SEP),
    NUM: _AFTER_VALUE,
    BOOL: _AFTER_VALUE,
    STR: _AFTER_VALUE,
    WORD: _AFTER_VALUE,
    TIME: (MOD, COMP, LOGIC, CLOSE, SEP),
    MOD: (PREFIX, NUM, WORD, ACC, STR, BOOL, OPEN, CLOSE),
    COMP: (PREFIX, NUM, BOOL, WORD, ACC, STR, TIME, OPEN, CLOSE),
    LOGIC: (PREFIX, NUM, BOOL, WORD, ACC, STR, TIME, OPEN, CLOSE),
    PREFIX: (NUM, BOOL, WORD, ACC, OPEN, CLOSE),
    TERN: (PREFIX, NUM, BOOL, STR, TIME, WORD, ACC, OPEN, SEP),
    ACC: (OPEN, MOD, COMP, LOGIC, CLOSE, TERN, SEP),
    SEP: (PREFIX, NUM, BOOL, STR, TIME, WORD, ACC, OPEN),
}
"""govaluate's lexerState.go: which token kind may follow which (a missing kind is 'Cannot transition')."""
END = frozenset({CLOSE, NUM, BOOL, STR, TIME, WORD, ACC})
"""Kinds an expression may end with."""

COMPARATORS = frozenset({"==", "!=", ">", ">=", "<", "<=", "=~", "!~", "in"})
LOGICAL = frozenset({"&&", "||"})
_MODIFIERS = frozenset({"+", "-", "*", "/", "%", "**", "&", "|", "^", ">>", "<<"})
_PREFIXES = frozenset({"-", "!", "~"})
_TERNARY = frozenset({"?", ":", "??"})
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?|.*[0-9]{1,2}:[0-9]{2}.*")
"""A quoted text govaluate may read as a time (its tryParseTime formats, loosely): where it may stand and its type
are left open, as a tag's."""


class ExpressionError(ValueError):
    """Why govaluate (as Argo calls it) fails on an expression; `hint` says how to write it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def _is_space(ch: str) -> bool:
    return ch.isspace()


def _symbol_char(ch: str) -> bool:
    """govaluate's isNotAlphanumeric: what an operator run may hold."""
    return not (ch.isdecimal() or ch.isalpha() or ch in "()[]'\"")


def _word_char(ch: str) -> bool:
    return ch.isalpha() or ch.isdecimal() or ch in "_."


class Lexer:
    def __init__(self, text: str, words_are_strings: bool) -> None:
        self.text = text
        self.pos = 0
        self.words_are_strings = words_are_strings
        self.tokens: list[Token] = []

    def _run(self, condition: Callable[[str], bool]) -> str:
        start = self.pos
        while self.pos < len(self.text) and condition(self.text[self.pos]) and not _is_space(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]

    def _until(self, stop: str, what: str, hint: str) -> str:
        """A quoted string or bracketed word: escapes kept as their character, unclosed refused."""
        out = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            self.pos += 1
            if ch == "\\" and self.pos < len(self.text):
                out.append(self.text[self.pos])
                self.pos += 1
            elif ch in stop:
                return "".join(out)
            else:
                out.append(ch)
        raise ExpressionError(f"unclosed {what}", hint)

    def _state(self) -> str:
        """The lexer state govaluate decides a `-`, `!` or `~` by: a tag stands where a value does."""
        kind = self.tokens[-1].kind if self.tokens else "START"
        return STR if kind == TAGGED else kind

    def read(self) -> list[Token]:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if _is_space(ch):
                self.pos += 1
            elif ch.isdecimal() or ch == ".":
                self._number()
            elif ch == ",":
                self.pos += 1
                self.tokens.append(Token(SEP, ","))
            elif ch == "[":
                self.pos += 1
                name = self._until("]", "parameter bracket", "close the `[` with `]`, or quote the text")
                plain = STR if self.words_are_strings else WORD
                self.tokens.append(Token(TAGGED if MARK in name else plain, name))
            elif ch.isalpha():
                self._word()
            elif ch in "'\"":
                self.pos += 1
                text = self._until("'\"", "string", "close the quote (a quote inside a string is written \\')")
                # a text govaluate may read as a time: placed and typed like a tag, so no time is refused here
                self.tokens.append(Token(TAGGED if _DATE.fullmatch(text) else STR, text))
            elif ch in "()":
                self.pos += 1
                self.tokens.append(Token(OPEN if ch == "(" else CLOSE, ch))
            else:
                self._symbol()
        return self.tokens

    def _number(self) -> None:
        if self.text.startswith("0x", self.pos):
            self.pos += 2
            digits = self._run(lambda c: c.isdecimal() or c.lower() in "abcdef")
            if not re.fullmatch(r"[0-9a-fA-F]{1,16}", digits):
                raise ExpressionError(f"{'0x' + digits!r} is not a hex number", "write hex digits after 0x")
            self.tokens.append(Token(NUM, "0x" + digits))
            return
        text = self._run(lambda c: c.isdecimal() or c == ".")
        if self.pos < len(self.text) and self.text[self.pos] == MARK:  # digits glued to a tag: one value
            self.tokens.append(Token(TAGGED, text + self._run(_word_char)))
            return
        if not _NUMBER.fullmatch(text):
            raise ExpressionError(f"{text!r} is not a number", "write numbers like 3 or 0.5; quote anything else")
        self.tokens.append(Token(NUM, text))

    def _word(self) -> None:
        text = self._run(_word_char)
        if MARK in text:
            self.tokens.append(Token(TAGGED, text))
        elif text in ("true", "false"):
            self.tokens.append(Token(BOOL, text))
        elif text in ("in", "IN"):
            self.tokens.append(Token(COMP, "in"))
        elif "." in text:
            raise ExpressionError(
                f"{text!r} reads as a field of a parameter (govaluate's accessor), and Argo passes none",
                f"quote it: '{text}'",
            )
        else:
            self.tokens.append(Token(STR if self.words_are_strings else WORD, text))

    def _symbol(self) -> None:
        text = self._run(_symbol_char)
        if text in _PREFIXES and PREFIX in NEXT[self._state()]:
            kind = PREFIX
        elif text in _MODIFIERS:
            kind = MOD
        elif text in LOGICAL:
            kind = LOGIC
        elif text in COMPARATORS:
            kind = COMP
        elif text in _TERNARY:
            kind = TERN
        elif text.startswith("{"):
            raise ExpressionError(
                f"{text!r} is left in the expression: Argo substitutes only the tags it knows",
                "use only {{workflow.parameters.NAME}}, {{tasks.STEP....}}, {{item}} or {{= expression }} tags",
            )
        else:
            raise ExpressionError(f"invalid token {text!r}", "quote text that is not an operator: 'a-b'")
        self.tokens.append(Token(kind, text))


def _allowed(state: str, kind: str) -> bool:
    if kind == TAGGED:  # a number, a boolean or a string once substituted: any of them may stand here
        return any(k in NEXT[state] for k in (NUM, BOOL, STR))
    return kind in NEXT[state]


def check_transitions(tokens: list[Token]) -> None:
    """govaluate's checkExpressionSyntax and checkBalance: each token allowed after the one before it."""
    depth = 0
    state = "START"
    for i, token in enumerate(tokens):
        if not _allowed(state, token.kind):
            if state in (STR, WORD) and token.kind == OPEN:
                raise ExpressionError(
                    f"{tokens[i - 1].text!r}(...) calls a function, and Argo registers none",
                    "use the operators (==, !=, <, >, &&, ||, !, in) or a {{= expression }} tag",
                )
            if token.kind == STR and state == PREFIX:
                raise ExpressionError(
                    f"a word or quoted text cannot follow the prefix operator {tokens[i - 1].text!r}",
                    "compare it instead, e.g. `'{{...}}' != 'true'`",
                )
            raise ExpressionError(f"{token.text!r} cannot follow {_shown(state)}", "check the operators and operands")
        depth += (token.kind == OPEN) - (token.kind == CLOSE)
        if depth < 0:
            raise ExpressionError("a `)` closes no `(`", "balance the parentheses")
        state = STR if token.kind == TAGGED else token.kind
    if depth:
        raise ExpressionError("unbalanced parentheses", "close every `(` with a `)`")
    if state not in END:
        raise ExpressionError("the expression ends early", "complete the last operator's right-hand side")


def _shown(state: str) -> str:
    return "the start" if state == "START" else f"a {state.lower().replace('_', ' ')} token"
