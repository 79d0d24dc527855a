"""A `when` expression read as Argo's controller reads it, before any run: govaluate's syntax and types.

Argo (v4.0.5, `shouldExecute` in workflow/controller/steps.go and cron/operator.go)
first substitutes the expression's `{{...}}` tags, then hands the text to
Knetic/govaluate (the revision Argo's go.mod pins). A task's `when` has every
bare word (govaluate's VARIABLE) turned into a string, so `{{x}} == prod` compares
with the text "prod"; a CronWorkflow's `when` does not, so a bare word there is a
variable nothing defines. Either way an expression govaluate cannot read, or
whose operands have the wrong types, or whose result is not a boolean, fails the
step or the tick at run time, after the spec merged and applied.

No maintained Python library reads govaluate (the project is archived), so this
module keeps to the part of it Argo reaches: its lexer (numbers, `0x` hex,
quoted strings, words, `[escaped]` words, `true`/`false`, `in`, operator runs),
its token-transition table (lexerState.go), balanced parentheses, its precedence
levels (stagePlanner.go) and the type checks each operator makes when it runs
(`findTypeChecks`). No functions are registered, so `f(x)` is an error, and a
word with a `.` is an accessor on parameters Argo never passes.

A tag is one operand whose value is not known before the run: it may be a number,
a boolean or a word, so it passes every type check. Its value can still break the
expression at run time (a value with spaces or a `-` splits into several
tokens): quoting the tag (`'{{...}}' == 'a-b'`) is the remedy the hints give.
Where govaluate would skip a side (`false && x`), this check still judges it: an
expression that only works because a branch is never reached is refused.
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
_MARK = "\ua66c"
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
_NEXT: dict[str, tuple[str, ...]] = {
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
_END = frozenset({CLOSE, NUM, BOOL, STR, TIME, WORD, ACC})
"""Kinds an expression may end with."""

_COMPARATORS = frozenset({"==", "!=", ">", ">=", "<", "<=", "=~", "!~", "in"})
_LOGICAL = frozenset({"&&", "||"})
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


NUMBER, BOOLEAN, STRING, ARRAY, ANY = "number", "boolean", "string", "list", "any"
"""Operand types; ANY is a tag, a time, or a ternary's outcome: every check passes."""


def _is_space(ch: str) -> bool:
    return ch.isspace()


def _symbol_char(ch: str) -> bool:
    """govaluate's isNotAlphanumeric: what an operator run may hold."""
    return not (ch.isdecimal() or ch.isalpha() or ch in "()[]'\"")


def _word_char(ch: str) -> bool:
    return ch.isalpha() or ch.isdecimal() or ch in "_."


class _Lexer:
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
                self.tokens.append(Token(TAGGED if _MARK in name else plain, name))
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
        if self.pos < len(self.text) and self.text[self.pos] == _MARK:  # digits glued to a tag: one value
            self.tokens.append(Token(TAGGED, text + self._run(_word_char)))
            return
        if not _NUMBER.fullmatch(text):
            raise ExpressionError(f"{text!r} is not a number", "write numbers like 3 or 0.5; quote anything else")
        self.tokens.append(Token(NUM, text))

    def _word(self) -> None:
        text = self._run(_word_char)
        if _MARK in text:
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
        if text in _PREFIXES and PREFIX in _NEXT[self._state()]:
            kind = PREFIX
        elif text in _MODIFIERS:
            kind = MOD
        elif text in _LOGICAL:
            kind = LOGIC
        elif text in _COMPARATORS:
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
        return any(k in _NEXT[state] for k in (NUM, BOOL, STR))
    return kind in _NEXT[state]


def _syntax(tokens: list[Token]) -> None:
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
    if state not in _END:
        raise ExpressionError("the expression ends early", "complete the last operator's right-hand side")


def _shown(state: str) -> str:
    return "the start" if state == "START" else f"a {state.lower().replace('_', ' ')} token"


class _Types:
    """govaluate's precedence levels (stagePlanner.go), each returning the type its stage produces at run time."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def _peek(self, kinds: tuple[str, ...], symbols: frozenset[str] | None = None) -> Token | None:
        if self.i < len(self.tokens):
            token = self.tokens[self.i]
            if token.kind in kinds and (symbols is None or token.text in symbols):
                return token
        return None

    def expression(self) -> str:
        result = self._separator()
        if self.i != len(self.tokens):  # pragma: no cover - the transition table leaves no stray tokens
            raise ExpressionError(f"unexpected {self.tokens[self.i].text!r}", "check the parentheses")
        return result

    def _separator(self) -> str:
        left = self._ternary()
        if self._peek((SEP,)) is None:
            return left
        while self._peek((SEP,)) is not None:
            self.i += 1
            self._ternary()
        return ARRAY

    def _ternary(self) -> str:
        left = self._binary(0)
        token = self._peek((TERN,))
        if token is None:
            return left
        self.i += 1
        if token.text == "?":
            _need(left, (BOOLEAN,), "?", "the condition before `?`")
            return self._ternary()  # the outcome: `b : c` below, or `b` alone (nothing when the condition fails)
        right = self._ternary()  # `:` and `??`: one side or the other, whichever the run reaches
        if left == right or (BOOLEAN not in (left, right) and ANY not in (left, right)):
            return left  # the same type, or neither side a boolean: the result is no boolean either
        return ANY

    _LEVELS: tuple[tuple[str, frozenset[str]], ...] = (
        (LOGIC, frozenset({"||"})),
        (LOGIC, frozenset({"&&"})),
        (COMP, _COMPARATORS),
        (MOD, frozenset({"&", "|", "^"})),
        (MOD, frozenset({">>", "<<"})),
        (MOD, frozenset({"+", "-"})),
        (MOD, frozenset({"*", "/", "%"})),
        (MOD, frozenset({"**"})),
    )

    def _binary(self, level: int) -> str:
        if level == len(self._LEVELS):
            return self._prefix()
        kind, symbols = self._LEVELS[level]
        left = self._binary(level + 1)
        while (token := self._peek((kind,), symbols)) is not None:
            self.i += 1
            right = self._binary(level + 1)
            left = _operate(token.text, left, right)
        return left

    def _prefix(self) -> str:
        token = self._peek((PREFIX,))
        if token is None:
            return self._value()
        self.i += 1
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"more than {MAX_DEPTH} prefix operators or parentheses nested", "simplify it")
        operand = self._prefix()
        self.depth -= 1
        _need(operand, (BOOLEAN,) if token.text == "!" else (NUMBER,), token.text, "its operand")
        return BOOLEAN if token.text == "!" else NUMBER

    def _value(self) -> str:
        token = self.tokens[self.i] if self.i < len(self.tokens) else Token(CLOSE, "the end")
        if token.kind in (CLOSE, SEP):  # govaluate's table lets `)` follow an operator; its planner then fails
            raise ExpressionError(f"an operator has no right-hand side before {token.text!r}", "complete it")
        self.i += 1
        if token.kind == OPEN:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExpressionError(f"more than {MAX_DEPTH} prefix operators or parentheses nested", "simplify it")
            if self._peek((CLOSE,)) is not None:
                raise ExpressionError("`()` holds nothing", "put an expression between the parentheses")
            inner = self._separator()
            self.i += 1  # the CLOSE the syntax check guarantees
            self.depth -= 1
            return inner
        if token.kind == NUM:
            return NUMBER
        if token.kind == BOOL:
            return BOOLEAN
        if token.kind == STR:
            return STRING
        if token.kind == WORD:
            raise ExpressionError(
                f"{token.text!r} is a variable, and Argo gives this expression none",
                f"quote it ('{token.text}'), or use a {{{{cronworkflow.FIELD}}}} tag",
            )
        return ANY  # a tag or a time


def _need(actual: str, wanted: tuple[str, ...], symbol: str, side: str) -> None:
    if actual != ANY and actual not in wanted:
        raise ExpressionError(
            f"`{symbol}` needs {' or '.join(wanted)} for {side}, and gets a {actual}",
            "compare values with ==, != (any type) or <, > (two numbers or two strings); join conditions with "
            "&& and || ",
        )


def _operate(symbol: str, left: str, right: str) -> str:
    """The type of `left symbol right`, refusing what govaluate's type checks refuse."""
    if symbol in ("==", "!="):
        return BOOLEAN
    if symbol in (">", ">=", "<", "<="):
        if ANY not in (left, right) and not (left == right and left in (NUMBER, STRING)):
            raise ExpressionError(
                f"`{symbol}` compares two numbers or two strings, not a {left} with a {right}",
                "quote both sides to compare text, or leave both unquoted numbers",
            )
        return BOOLEAN
    if symbol in ("=~", "!~"):
        _need(left, (STRING,), symbol, "its left side")
        _need(right, (STRING,), symbol, "its pattern")
        return BOOLEAN
    if symbol == "in":
        _need(right, (ARRAY,), symbol, "its right side (a list such as ('a', 'b'))")
        return BOOLEAN
    if symbol in _LOGICAL:
        _need(left, (BOOLEAN,), symbol, "its left side")
        _need(right, (BOOLEAN,), symbol, "its right side")
        return BOOLEAN
    if symbol == "+":
        if STRING in (left, right) or ANY in (left, right):
            return ANY if ANY in (left, right) else STRING
        _need(left, (NUMBER,), symbol, "its left side")
        _need(right, (NUMBER,), symbol, "its right side")
        return NUMBER
    for side, actual in (("its left side", left), ("its right side", right)):
        if actual == STRING and symbol == "-":
            raise ExpressionError(
                "`-` subtracts numbers, and here it stands between words: an unquoted `a-b` is `a` minus `b`",
                "quote text that holds a '-': 'a-b' (and '{{...}}' for a value that may)",
            )
        _need(actual, (NUMBER,), symbol, side)
    return NUMBER


def problem(expression: str, words_are_strings: bool) -> ExpressionError | None:
    """Why govaluate fails on `expression` once its tags are substituted, or None.

    `words_are_strings`: a DAG task's `when` (Argo turns bare words into strings); False for a CronWorkflow's.
    Every `{{...}}` tag is one operand of unknown value; the caller checks the tags themselves.
    """
    if len(expression) > MAX_LENGTH:
        return ExpressionError(f"the expression has {len(expression)} characters", f"keep it under {MAX_LENGTH}")
    text = TAG.sub(_MARK, expression.replace(_MARK, "?"))
    try:
        tokens = _Lexer(text, words_are_strings).read()
        if not tokens:
            return ExpressionError("the expression is empty", "remove the field, or write a condition")
        _syntax(tokens)
        result = _Types(tokens).expression()
    except ExpressionError as exc:
        return exc
    if result not in (BOOLEAN, ANY):
        return ExpressionError(
            f"the expression gives a {result}, and Argo needs true or false",
            "compare it, e.g. `{{...}} == true` or `'{{...}}' == 'yes'`",
        )
    return None
