"""Patterns judged as Go's regexp judges them: the text after `=~` and `!~` in a `when`.

Every verdict in the tables was confirmed with Go 1.26 (the toolchain that built Argo v4.0.5's
workflow-controller) by goregexp_check/main.go, which the last test runs when a Go toolchain is on PATH:
it compares mlcp's verdict with Go's on random patterns, where mlcp may be more lenient than Go (a `\\p`
name Go's tables lack) but never stricter.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from controlplane import goregexp

GO_REFUSES = {
    r"(a)\1": "\\1",
    r"(?=a)": "(?=",
    r"(?!a)": "(?!",
    r"(?<=a)b": "(?<=",
    r"(?<!a)b": "(?<!",
    r"(?>a)": "(?>",
    r"(?P=n)": "(?P",
    r"(?#c)": "(?#",
    r"a++": "++",
    r"a*+": "*+",
    r"a{2}+": "{2}+",
    r"a**": "**",
    r"\C": "\\C",
    r"[\C]": "\\C",
    r"\Z": "\\Z",
    r"\K": "\\K",
    r"\R": "\\R",
    r"\h": "\\h",
    r"\X": "\\X",
    r"\8": "\\8",
    r"a{1001}": "{1001}",
    r"(a{100}){100}": "{100}",
    r"x{2,1}": "{2,1}",
    r"[a-\d]": "\\d",
    r"[z-a]": "z-a",
    r"(": "missing )",
    r")": "unexpected )",
    r"[": "missing ]",
}
GO_COMPILES = [
    r"^us-",
    r"b.*",
    r"(?P<n>a)",
    r"(?<n>a)",
    r"\Qa.b(\E",
    r"\Q\C\E",
    r"\\C",
    r"[[:word:]]+",
    r"\p{Greek}",
    r"\p{letter}",
    r"\pL{1000}",
    r"[\x{0}-\x{10FFFF}]{1000}",
    r"(?i)ab",
    r"(?U)a*",
    r"a{1000}",
    r"((a{10}){10}){10}",
    r"\d+\.\d+",
    r"\x41\x{263a}",
    r"\a\f\t\n\r\v",
    r"[^]a]",
    r"(|a)",
    r"\z",
    "\ud800",
]


@pytest.mark.parametrize(("pattern", "why"), GO_REFUSES.items())
def test_a_pattern_go_refuses_is_refused_saying_why(pattern: str, why: str) -> None:
    found = goregexp.problem(pattern)
    assert found is not None and why in found


@pytest.mark.parametrize("pattern", GO_COMPILES)
def test_a_pattern_go_compiles_is_accepted(pattern: str) -> None:
    """Among them what RE2 itself reads differently: Go's Unicode names, and patterns past RE2's memory budget."""
    assert goregexp.problem(pattern) is None


def test_a_long_hostile_pattern_is_judged_quickly() -> None:
    """RE2's work is linear in the pattern and its compile budget bounded: 4,096 characters (a `when`'s limit)."""
    for pattern in ("(" * 4096, r"\pL{1000}" * 455, "[" + "a-" * 2047, r"(((a{10}){10}){10})" * 200):
        goregexp.problem(pattern)


PIECES = [*r"ab\()[]{}?*+|^$.,-:=!<>PCQEpLNdwszZ1089", "{Greek}", "{letter}", "{}", "1000", "1001", "x{41}"]
PIECES += ["[:alpha:]", "[:foo:]", "é", "\u212a", r"\Q", r"\E", r"\p", r"\C", "(?P<", "(?<", "(?:", "(?i", "{2,}"]


def test_never_stricter_than_go_on_random_patterns(tmp_path: Path) -> None:
    # Go is part of the setup contract (hack/testenv/build.sh builds the cluster with it): missing is a failure
    assert shutil.which("go") is not None, "Go is not on PATH: install Go (hack/testenv/build.sh needs it too)"
    build = subprocess.run(
        ["go", "build", "-o", str(tmp_path / "gore"), "main.go"],
        cwd=Path(__file__).parent / "goregexp_check",
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GO111MODULE": "off", "GOTOOLCHAIN": "local", "GOPATH": str(tmp_path)},
    )
    assert build.returncode == 0, f"the Go toolchain cannot build the referee: {build.stderr[-300:]}"
    rnd = random.Random(20261201)
    patterns = ["".join(rnd.choice(PIECES) for _ in range(rnd.randint(1, 10))) for _ in range(5000)]
    patterns += [*GO_REFUSES, *GO_COMPILES[:-1]]
    stdin = "\n".join(json.dumps(p) for p in patterns) + "\n"
    go = subprocess.run([str(tmp_path / "gore")], input=stdin, capture_output=True, text=True, check=True)
    verdicts = go.stdout.split()
    stricter = [p for p, g in zip(patterns, verdicts, strict=True) if g == "ok" and goregexp.problem(p) is not None]
    assert not stricter
    assert [p for p in GO_REFUSES if verdicts[patterns.index(p)] != "ERR"] == []


def test_the_reason_is_short_and_printable() -> None:
    """RE2 quotes the pattern in its message, and a reviewer reads it on a terminal."""
    found = goregexp.problem("[\x1b" + "a" * 5000)
    assert found is not None and "\x1b" not in found and "\\x1b" in found and len(found) < 200
