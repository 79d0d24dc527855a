"""`when` expressions judged as govaluate judges them once Argo has substituted their tags.

Every verdict on a tagless expression here was confirmed against Knetic/govaluate at the revision Argo v4.0.5
pins, called as Argo's shouldExecute calls it (bare words made strings for a step, left variables for a schedule);
tests/controlplane/pipeline_corpus confirms the `when` cases against the real workflow-controller.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane import govaluate

ATOMS = [*"()[]'\",?:!~-+*", "1", "2.5", "0x1f", "true", "a", "b-c", "'x'", "'2024-01-01'", "==", "&&", "in", "{{t}}"]

STEP_ACCEPTS = [
    "true",
    "true == true",
    "yes == true",
    "prod == prod",
    "'prod-eu' == 'prod-eu'",
    "5 > 3",
    "abc > abd",
    "1 < 2 && 3 > 2",
    "!(1 == 1)",
    "-5 < 3",
    "x in (a, b)",
    "0x1F == 31",
    "a =~ 'b.*'",
    "a + b == ab",
    "1 + 2 == 3",
    "2 ** 3 == 8",
    "1 & 2 == 0",
    "a == b == c",
    "(true) && (false || true)",
    "true ? true : false",
    "'2024-01-01' == '2024-01-01'",
    "Succeeded != Failed && heads == heads",
    "[weird name] == x",
]
STEP_REFUSES = {
    "yes": "gives a string",
    "prod-eu == prod-eu": "`-` subtracts numbers",
    "5 > abc": "compares two numbers or two strings",
    "'5' > 3": "compares two numbers or two strings",
    "1 && 2": "`&&` needs boolean",
    "!yes": "cannot follow the prefix operator",
    "-abc < 3": "cannot follow the prefix operator",
    "(1 == 1": "unbalanced parentheses",
    "1 == 1)": "closes no `(`",
    "1 ==": "ends early",
    "== 1": "cannot follow the start",
    "foo(1)": "calls a function",
    "a.b == c": "reads as a field of a parameter",
    "v1.2 == v1.2": "reads as a field of a parameter",
    "x in a": "`in` needs list",
    "x in ('a')": "`in` needs list",
    "1, 2": "gives a list",
    "true ? 2 : 3": "gives a number",
    "1.2.3 == 1": "is not a number",
    "0xZZ == 1": "is not a hex number",
    "'unclosed == 1": "unclosed string",
    "[unclosed == x": "unclosed parameter bracket",
    "a # b": "invalid token '#'",
    "1 =~ 'b'": "`=~` needs string",
    "1 - a": "`-` subtracts numbers",
    "1 < 2 < 3": "compares two numbers or two strings",
    "()": "holds nothing",
    "": "is empty",
    "   ": "is empty",
    "1 == 1 ,": "ends early",
    "--1 == 1": "invalid token '--'",
    "true > false": "compares two numbers or two strings",
    "{{ == 1": "left in the expression",
    "(1 + )": "no right-hand side",
    "! ( ! )": "no right-hand side",
}


@pytest.mark.parametrize("expression", STEP_ACCEPTS)
def test_a_step_expression_govaluate_evaluates_is_accepted(expression: str) -> None:
    assert govaluate.problem(expression, words_are_strings=True) is None


@pytest.mark.parametrize(("expression", "why"), STEP_REFUSES.items())
def test_a_step_expression_govaluate_fails_on_is_refused_saying_why(expression: str, why: str) -> None:
    found = govaluate.problem(expression, words_are_strings=True)
    assert found is not None and why in str(found), found
    assert found.hint


@pytest.mark.parametrize(
    "expression",
    [
        "{{workflow.parameters.n}} > 5",
        "!{{workflow.parameters.deploy}}",
        "-{{workflow.parameters.n}} < 0",
        "{{tasks.a.outputs.result}}",
        "{{workflow.parameters.n}}5 == 55",
        "5{{workflow.parameters.n}} == 55",
        "'{{tasks.a.outputs.result}}' == 'heads'",
        "{{= workflow.parameters.n == '5' }}",
        "{{item}} in (1, 2, 3)",
        "{{workflow.parameters.n}} - 1 > 0",
        "{{workflow.parameters.n}} -1 > 0",
        "'2024-01-01' == '{{workflow.parameters.day}}'",
    ],
)
def test_a_tag_is_one_operand_of_any_type(expression: str) -> None:
    assert govaluate.problem(expression, words_are_strings=True) is None


def test_in_a_schedule_a_bare_word_is_an_undefined_variable() -> None:
    """A CronWorkflow's `when` keeps govaluate's variables, and Argo evaluates it with none defined."""
    assert govaluate.problem("yes == yes", words_are_strings=True) is None
    found = govaluate.problem("yes == yes", words_are_strings=False)
    assert found is not None and "'yes' is a variable" in str(found)
    assert govaluate.problem("{{cronworkflow.failed}} < 3", words_are_strings=False) is None


def test_a_short_circuited_side_is_judged_all_the_same() -> None:
    """govaluate skips `1` in `true || 1`; an expression that works only because a side is never reached is
    refused (stricter than Argo on purpose)."""
    assert govaluate.problem("true || 1", words_are_strings=True) is not None


def test_hostile_expressions_are_refused_quickly_without_recursing_deeply() -> None:
    assert "nested" in str(govaluate.problem("(" * 1000 + "true" + ")" * 1000, words_are_strings=True))
    assert "characters" in str(govaluate.problem("true && " * 1000 + "true", words_are_strings=True))
    long_chain = " && ".join(["true"] * 500)
    assert govaluate.problem(long_chain, words_are_strings=True) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ATOMS), max_size=9), st.booleans())
def test_any_expression_gets_an_answer_never_a_traceback(atoms: list[str], words_are_strings: bool) -> None:
    """Token soups found two tracebacks (a `-` after a tag; `)` right after an operator, which govaluate's
    transition table allows)."""
    found = govaluate.problem(" ".join(atoms), words_are_strings)
    assert found is None or (str(found) and found.hint)


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        (r"a =~ '(a)\\1'", "\\1"),  # govaluate drops one backslash of each pair: Go reads `(a)\1`
        ("a !~ '(?=b)'", "(?="),
        ("'{{workflow.parameters.r}}' =~ 'a++'", "++"),
        ("a =~ [(]", "missing )"),  # a bracketed word is a string in a step's `when`, compiled as a pattern
        ("a =~ '(' + ')'", "missing )"),  # optimizeTokens compiles the string right after the operator alone
    ],
)
def test_a_pattern_go_refuses_is_refused_at_its_operator(expression: str, why: str) -> None:
    """govaluate compiles a quoted pattern with Go's regexp when it parses the expression: the step fails."""
    found = govaluate.problem(expression, words_are_strings=True)
    assert found is not None and "Go's regexp" in str(found) and why in str(found), found
    assert "RE2" in found.hint


@pytest.mark.parametrize(
    "expression",
    [
        r"a =~ '(a)\1'",  # one backslash escapes the `1`: the pattern is `(a)1`
        r"a =~ '\\d+\\.\\d+'",
        "a =~ '^{{workflow.parameters.prefix}}('",  # known only at run time
        "a =~ b",
        "a =~ '\\\\p{letter}'",  # Go's Unicode names (case-insensitive since Go 1.25), not RE2's
    ],
)
def test_a_pattern_go_compiles_or_known_only_at_run_time_is_accepted(expression: str) -> None:
    assert govaluate.problem(expression, words_are_strings=True) is None
