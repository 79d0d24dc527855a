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
makes when it runs (`govaluate_types`). No
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

from controlplane.govaluate_tokens import (
    MARK,
    MAX_LENGTH,
    TAG,
    ExpressionError,
    Lexer,
    check_transitions,
)
from controlplane.govaluate_types import ANY, BOOLEAN, TypeReader


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
        result = TypeReader(tokens).expression()
    except ExpressionError as exc:
        return exc
    if result not in (BOOLEAN, ANY):
        return ExpressionError(
            f"the expression gives a {result}, and Argo needs true or false",
            "compare it, e.g. `{{...}} == true` or `'{{...}}' == 'yes'`",
        )
    return None
