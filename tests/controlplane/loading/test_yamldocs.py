"""The safe YAML layer: positions for every node, and refusal of what is unsafe or ambiguous."""

from __future__ import annotations

import datetime
import tracemalloc
from pathlib import Path

import pytest

from controlplane.loading.yamldocs import (
    DEFAULT_CAPS,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    Caps,
    OverBudget,
    YamlError,
    parse,
    parse_counted,
)

BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{new}: &{new} [{', '.join(['*' + old] * 10)}]\n" for old, new in zip("abcdefgh", "bcdefghi", strict=True)
)


def refusal(text: str, caps: Caps = DEFAULT_CAPS) -> YamlError:
    with pytest.raises(YamlError) as caught:
        parse(text, caps)
    return caught.value


def test_positions_of_keys_values_and_items_are_one_based() -> None:
    (doc,) = parse("kind: Pipeline\nspec:\n  steps:\n    - name: a\n      image: x\n")
    assert (doc.line, doc.column) == (1, 1)
    assert doc.positions[("kind",)] == (1, 7)
    assert doc.positions[("spec", "steps")] == (4, 5)
    assert doc.positions[("spec", "steps", 0)] == (4, 7)
    assert doc.positions[("spec", "steps", 0, "image")] == (5, 14)


def test_position_falls_back_to_the_nearest_known_ancestor() -> None:
    (doc,) = parse("spec:\n  hard:\n    cpu: 1\n")
    assert doc.position(("spec", "hard", "memory")) == (3, 5)  # the value of `hard`
    assert doc.position(("nothing", "here")) == (1, 1)


def test_every_document_of_a_stream_is_returned_with_its_own_start() -> None:
    docs = parse("a: 1\n---\n# comment\nb: 2\n---\n")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}, None]
    assert [d.line for d in docs[:2]] == [1, 4]


def test_small_aliases_are_expanded() -> None:
    (doc,) = parse("base: &cmd [python, -m, train]\nagain: *cmd\n")
    assert doc.data["again"] == ["python", "-m", "train"]


def test_alias_expansion_bomb_is_refused_before_construction() -> None:
    error = refusal(BILLION_LAUGHS)
    assert isinstance(error, OverBudget)
    assert f"more than {MAX_EXPANDED_NODES} YAML nodes once aliases are expanded" in error.message
    assert "alias" in error.hint
    assert error.line == 5  # `e`: the first list whose aliases would cross the budget


def test_an_alias_bomb_split_into_many_documents_shares_one_budget() -> None:
    """Each document stays far below the budget; the stream as a whole does not."""
    document = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n---\n"
    (single,) = parse(document.removesuffix("---\n"))
    assert single.data["b"][9] == ["x"] * 10
    error = refusal(document * 5000, Caps(documents=10_000))
    assert isinstance(error, OverBudget)
    assert error.measure == "nodes"
    assert error.line < 5000 * 3  # refused part-way through, not after reading everything


def test_a_large_flat_document_is_refused_while_it_is_read_not_after(tmp_path: Path) -> None:
    text = "a: [" + ", ".join(["x"] * 300_000) + "]\n"
    tracemalloc.start()
    try:
        error = refusal(text, Caps(nodes=1_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, OverBudget)
    assert error.column < 3_000  # stopped near the 1,000th item
    assert peak < 2 * 1024 * 1024, f"{peak} bytes traced: the stream was built before it was counted"


def test_too_many_documents_are_refused_at_the_first_one_over() -> None:
    error = refusal("a: 1\n---\n" * 4, Caps(documents=3))
    assert isinstance(error, OverBudget)
    assert (error.measure, error.line) == ("documents", 6)  # the `---` that opens the fourth
    assert "split it" in error.hint


def test_nodes_are_counted_with_aliases_as_what_they_repeat() -> None:
    parsed = parse_counted("a: &x [1, 2]\nb: *x\n")
    assert parsed.nodes == 1 + 2 + 3 + 3  # the root mapping, its two keys, the list with its items, the copy
    assert parsed.documents[0].data == {"a": [1, 2], "b": [1, 2]}
    assert parsed.documents[0].data["a"] is not parsed.documents[0].data["b"]


def test_a_repeated_value_is_positioned_at_the_alias() -> None:
    (doc,) = parse("a: &x {k: [1]}\nb:\n  c: *x\n")
    assert doc.position(("b", "c", "k", 0)) == (3, 6)
    assert doc.position(("a", "k", 0)) == (1, 12)


def test_an_alias_may_not_nest_a_value_past_the_depth_limit() -> None:
    deep = "[" * 10 + "]" * 10
    assert parse(f"a: &x {deep}\nb: *x\n", Caps(depth=10))
    error = refusal(f"a: &x {deep}\nb: [*x]\n", Caps(depth=10))
    assert "deeper than 10" in error.message
    assert (error.line, error.column) == (2, 5)


def test_undefined_and_duplicate_anchors_are_refused() -> None:
    assert refusal("a: *nowhere\n").message == "alias *nowhere names no anchor defined before it"
    error = refusal("a: &x 1\nb: &x 2\n")
    assert (error.message, error.line) == ("duplicate anchor &x", 2)


def test_anchors_do_not_reach_into_the_next_document() -> None:
    assert "names no anchor" in refusal("a: &x 1\n---\nb: *x\n").message


def test_aliases_as_keys_are_refused() -> None:
    assert refusal("a: &k key\n*k : value\n").message == "mapping keys must be plain scalars"


def test_recursive_alias_is_refused() -> None:
    error = refusal("a: &a [1, *a]\n")
    assert "recursive alias" in error.message
    assert (error.line, error.column) == (1, 4)


def test_duplicate_keys_are_refused_at_the_second_key() -> None:
    error = refusal("metadata:\n  name: a\n  labels: {}\n  name: b\n")
    assert error.message == "duplicate key 'name' (first at line 2)"
    assert (error.line, error.column) == (4, 3)
    assert "last value" in error.hint


def test_duplicate_keys_count_even_when_one_is_quoted() -> None:
    error = refusal("kind: Quota\n'kind': Tenant\n")
    assert error.line == 2


def test_merge_keys_are_refused() -> None:
    error = refusal("defaults: &d {cpu: 1}\nhard:\n  <<: *d\n")
    assert "merge keys" in error.message
    assert (error.line, error.column) == (3, 3)


def test_complex_keys_are_refused() -> None:
    error = refusal("? [a, b]\n: value\n")
    assert error.message == "mapping keys must be plain scalars"
    assert error.line == 1


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    error = refusal("- " * (MAX_DEPTH + 5) + "x\n")
    assert f"deeper than {MAX_DEPTH}" in error.message


def test_nesting_at_a_reasonable_depth_is_fine() -> None:
    (doc,) = parse("- " * 20 + "x\n")
    assert doc.data is not None


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system [echo pwned]\n",
        "a: !!python/name:os.system\n",
        "a: !custom value\n",
        "a: !!set {x, y}\n",
        "a: !!omap [x: 1]\n",
        "a: !!map scalar\n",
    ],
)
def test_unsafe_unknown_and_exotic_tags_are_refused(text: str) -> None:
    error = refusal(text)
    assert error.message.startswith("unsupported tag '")
    assert (error.line, error.column) == (1, 4)


def test_standard_scalar_types_are_built() -> None:
    (doc,) = parse("s: x\ni: 3\nf: 1.5\nb: true\nn: null\nq: '3'\nd: 2024-01-02\nt: !!str 12\n1: one\n")
    assert doc.data == {
        "s": "x",
        "i": 3,
        "f": 1.5,
        "b": True,
        "n": None,
        "q": "3",
        "d": datetime.date(2024, 1, 2),
        "t": "12",
        1: "one",
    }
    assert doc.positions[("1",)] == (9, 4)


@pytest.mark.parametrize(
    "text",
    [
        "image: !!binary Z2hjci5pby9ldmlsL21pbmVyOjE=\n",  # base64 the reviewer cannot read, built into bytes
        "a: !!int '١٢'\n",  # int() reads Arabic-Indic digits: 12
        "a: !!float '１.５'\n",
        "a: !!timestamp 2024-01-02\n",
        "a: !!bool yes\n",
        "a: !!null ''\n",
        "a: !!merge x\n",
    ],
)
def test_an_explicit_tag_on_a_value_is_refused_but_str(text: str) -> None:
    error = refusal(text)
    assert error.message.startswith("unsupported tag '!!")
    assert (error.line, error.column) == (1, text.index(":") + 3)
    assert "remove the tag" in error.hint


def test_an_explicit_tag_on_a_key_is_refused() -> None:
    error = refusal("a:\n  !!binary aGk=: x\n")
    assert (error.message, error.line, error.column) == ("unsupported tag '!!binary'", 2, 3)


def test_syntax_errors_point_at_the_problem() -> None:
    error = refusal("kind: Quota\nspec:\n  hard: {cpu: 1\n")
    assert error.message.startswith("invalid YAML:")
    assert error.line == 4


@pytest.mark.parametrize("number", ["9" * 5000, "-" + "9" * 4301, "0x" + "f" * 5000, "0b" + "1" * 13_001])
def test_a_whole_number_too_large_to_use_is_refused_at_its_place(number: str) -> None:
    error = refusal("spec:\n  replicas: " + number + "\n")  # int() refuses 4,301 digits, with Python's advice
    assert (error.line, error.column) == (2, 13)
    assert error.message.startswith(f"the whole number {number[:20]}… ({len(number)} characters) is too large")
    assert "set_int_max_str_digits" not in error.message and error.hint == (
        "write a smaller number, or quote it to make it a string"
    )


def test_the_largest_whole_numbers_a_spec_may_hold_are_built() -> None:
    (doc,) = parse("a: " + "9" * 3900 + "\nb: 0x" + "f" * 3250 + "\n")
    assert doc.data["a"] == int("9" * 3900) and doc.data["b"].bit_length() == 13_000


def test_a_date_that_does_not_exist_is_refused_at_its_place() -> None:
    error = refusal("a: 1\nwhen: 2024-13-45\n")
    assert (error.message, error.line, error.column) == ("invalid timestamp '2024-13-45': month must be in 1..12", 2, 7)
    assert error.hint == "quote the value to make it a string"


def test_control_characters_are_refused() -> None:
    assert refusal("a: \x00\n").message.startswith("invalid YAML:")
