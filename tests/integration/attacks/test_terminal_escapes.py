"""Terminal escapes in a commit author: the plan a reviewer reads must show them, never obey them.

git takes any byte but `<`, `>` and newline in an author's name and email. Eve commits a change to vision's
pipeline as `eve<ESC>[1A<ESC>[2K…`: obeyed by a terminal, the sequence moves the cursor up and erases the line
above, and a right-to-left override reorders the rest, so the line saying her change is blocked could be hidden
or turned into something else. Through the real `mlcp plan` against the real API server, in text and markdown:
the change is blocked and named so, her name is printed with its control characters as visible escapes, and
no escape byte or bidi override of hers reaches the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest
from typer.testing import CliRunner

from controlplane.cli.app import app
from tests.integration import configrepo

pytestmark = pytest.mark.integration
runner = CliRunner()

EVE = git.Actor("Eve\x1b[1A\x1b[2K", "eve\x1b[2K\u202e@example.com")
PIPELINE = "pipelines/train-detector.yaml"


def test_an_authors_escape_sequences_are_shown_not_obeyed_in_the_plan(
    tmp_path: Path, prefix: str, kubeconfig: Path
) -> None:
    repo = configrepo.make(tmp_path, prefix)
    env = {"KUBECONFIG": str(kubeconfig), "MLFLOW_TRACKING_URI": None}
    args = ["--kubeconfig", str(kubeconfig), *repo.operator_args()]
    first = runner.invoke(
        app, ["apply", str(repo.root), *args, "--yes", "--audit-log", str(tmp_path / "a.jsonl")], env=env
    )
    assert first.exit_code == 0, first.output
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", "ghcr.io/example/vision-data:1.3.0", "ghcr.io/evil/miner:1")
    repo.commit("a faster data image", author=EVE)
    stored = repo.git.head.commit.author.email
    assert "\x1b" in stored, "git kept her bytes: the attack is real"

    for output in ("text", "markdown"):
        result = runner.invoke(app, ["plan", str(repo.root), *args, "-o", output], env=env)
        assert result.exit_code == 0, result.output
        shown = result.output
        assert "\x1b" not in shown and "\u202e" not in shown, f"{output}: no escape of hers reaches the output"
        assert "eve\\x1b[2k\\u202e@example.com" in shown, output  # emails are compared lower-cased
        assert "default-deny" in shown, "her change is blocked, and the output says so"

    result = runner.invoke(app, ["plan", str(repo.root), *args, "-o", "json"], env=env)
    assert result.exit_code == 0, result.output
    assert "\u202e" not in result.output, "JSON escapes the bidi override too, though JSON need not"
    [authorized] = [c for c in json.loads(result.output)["changes"] if c.get("decision")]
    assert authorized["decision"]["actors"] == ["eve\x1b[2k\u202e@example.com"], "a parser reads her bytes exactly"
