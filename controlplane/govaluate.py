"""A `when` expression read as Argo's controller reads it, before any run: govaluate's syntax and types.

Argo (v4.0.5, `shouldExecute` in workflow/controller/steps.go and cron/operator.go)
first substitutes the expression's `{{...}}` tags, then hands the text to
Knetic/govaluate (the revision Argo's go.mod pins). A task's `when` has every
bare word (govaluate's VARIABLE) turned into a string, so `{{x}} == prod` compares
with the text "prod"; a CronWorkflow's `when` does not, so a bare word there is a
variable nothing defines. Either way an expression govaluate cannot read, or
whose operands have the wrong types, or whose result is not a boolean, fails the
step or the tick at run time, after the spec merged and applied.

No maintained Python library reads govaluate (the project is archived), so mlcp
keeps to the part of it Argo reaches: its lexer and token-transition table
(`govaluate_tokens`), its precedence levels and the type checks each operator
makes when it runs (`govaluate_types`), and the regular expressions it compiles
with Go's regexp (`goregexp`): a quoted pattern right after `=~` or `!~` when it
parses the expression (optimizeTokens), any other when it evaluates it. No
functions are registered, so `f(x)` is an error, and a word with a `.` is an
accessor on parameters Argo never passes. This module puts them together.

A tag is one operand whose value is not known before the run: it may be a number,
a boolean or a word, so it passes every type check. Its value can still break the
expression at run time (a value with spaces or a `-` splits into several
tokens): quoting the tag (`'{{...}}' == 'a-b'`) is the remedy the hints give.
Where govaluate would skip a side (`false && x`), this check still judges it: an
expression that only works because a branch is never reached is refused.
"""

from __future__ import annotations

from controlplane import goregexp
from controlplane.govaluate_tokens import (
    COMP,
    MARK,
    MAX_LENGTH,
    STR,
    TAG,
    ExpressionError,
    Lexer,
    Token,
    check_transitions,
)
from controlplane.govaluate_types import ANY, BOOLEAN, TypeReader

PATTERN_SHOWN = 60
"""Characters of a refused pattern quoted in its message."""


def _patterns(tokens: list[Token]) -> None:
    """Refuse a pattern Go's regexp refuses: the text right after `=~`/`!~`, as govaluate's optimizeTokens takes it.

    A pattern holding a tag is known only at run time and is left alone; a pattern built by an operator
    (`x =~ ('a' + 'b')`) is compiled only when evaluated, and its parts are not judged (they may not be
    patterns alone)."""
    for i, token in enumerate(tokens[:-1]):
        pattern = tokens[i + 1]
        if token.kind != COMP or token.text not in ("=~", "!~") or pattern.kind != STR or MARK in pattern.text:
            continue
        why = goregexp.problem(pattern.text)
        if why is not None:
            shown = goregexp.printable(pattern.text, PATTERN_SHOWN)
            raise ExpressionError(
                f"the pattern `{shown}` after `{token.text}` is not one Go's regexp compiles ({why})",
                "write RE2 syntax (no backreferences like \\1, no lookaround like (?=, no possessive a++); "
                "a backslash in a quoted pattern is written twice: '\\\\d+'",
            )


def problem(expression: str, words_are_strings: bool) -> ExpressionError | None:
    """Why govaluate fails on `expression` once its tags are substituted, or None.

    `words_are_strings`: a DAG task's `when` (Argo turns bare words into strings); False for a CronWorkflow's.
    Every `{{...}}` tag is one operand of unknown value; the caller checks the tags themselves.
    """
    if len(expression) > MAX_LENGTH:
        return ExpressionError(f"the expression has {len(expression)} characters", f"keep it under {MAX_LENGTH}")
    text = TAG.sub(MARK, expression.replace(MARK, "?"))
    try:
        tokens = Lexer(text, words_are_strings).read()
        if not tokens:
            return ExpressionError("the expression is empty", "remove the field, or write a condition")
        check_transitions(tokens)
        _patterns(tokens)
        result = TypeReader(tokens).expression()
    except ExpressionError as exc:
        return exc
    if result not in (BOOLEAN, ANY):
        return ExpressionError(
            f"the expression gives a {result}, and Argo needs true or false",
            "compare it, e.g. `{{...}} == true` or `'{{...}}' == 'yes'`",
        )
    return None
