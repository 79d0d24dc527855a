"""govaluate's planner as Argo's `when` reaches it: precedence, and the type checks each operator makes.

Part of `controlplane.govaluate`. govaluate plans the tokens into stages by
precedence (stagePlanner.go) and each stage checks its operands' types when it
runs (`findTypeChecks`), so `5 > abc`, `1 && 2` or a result that is no boolean
fails the step only when it is due. This module reads the tokens at the same
levels and returns the type each stage would produce; a tag, a time or a
ternary's outcome is `ANY`, which passes every check.
"""

from __future__ import annotations

from controlplane.govaluate_tokens import (
    BOOL,
    CLOSE,
    COMP,
    COMPARATORS,
    LOGIC,
    LOGICAL,
    MAX_DEPTH,
    MOD,
    NUM,
    OPEN,
    PREFIX,
    SEP,
    STR,
    TERN,
    WORD,
    ExpressionError,
    Token,
)

NUMBER, BOOLEAN, STRING, ARRAY, ANY = "number", "boolean", "string", "list", "any"
"""Operand types; ANY is a tag, a time, or a ternary's outcome: every check passes."""


class TypeReader:
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
        (COMP, COMPARATORS),
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
    if symbol in LOGICAL:
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
