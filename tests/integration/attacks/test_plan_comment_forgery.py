"""Forging the pull-request comment: an author's email written to look like another cell of the plan's table.

`mlcp plan -o markdown` is the comment reviewers read on a pull request to decide. git takes any byte but `<`,
`>` and newline in an email, so Eve commits a change to vision's pipeline as
`eve@example.com) | ✅ tenant-owner (alice@example.com …`. Pasted as it is into the table, her email closes the
authorization cell and the row reads as allowed by alice's role; `:white_check_mark:`, a link or an HTML entity
would serve as well. Through the real `mlcp plan` against the real API server: her change is blocked, the row
keeps its five cells, its authorization cell says ⛔ with her whole email as one literal code span, and where
her email is quoted in prose every character markdown acts on is escaped.
"""

from __future__ import annotations

import re
from pathlib import Path

import git
import pytest
from typer.testing import CliRunner

from controlplane.cli.app import app
from tests.integration import configrepo

pytestmark = pytest.mark.integration
runner = CliRunner()

FORGED = "eve@example.com) | ✅ tenant-owner (alice@example.com :white_check_mark: [ok](https://evil.example) &#60;b"
EVE = git.Actor("Eve", FORGED)
PIPELINE = "pipelines/train-detector.yaml"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def test_an_email_written_as_table_cells_stays_in_its_cell(tmp_path: Path, prefix: str, kubeconfig: Path) -> None:
    repo = configrepo.make(tmp_path, prefix)
    env = {"KUBECONFIG": str(kubeconfig), "MLFLOW_TRACKING_URI": None}
    args = ["--kubeconfig", str(kubeconfig), *repo.operator_args()]
    log = ["--audit-log", str(tmp_path / "audit.jsonl")]
    first = runner.invoke(app, ["apply", str(repo.root), *args, "--yes", *log], env=env)
    assert first.exit_code == 0, first.output
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", "ghcr.io/example/vision-data:1.3.0", "ghcr.io/evil/miner:1")
    repo.commit("a faster data image", author=EVE)

    result = runner.invoke(app, ["plan", str(repo.root), *args, "-o", "markdown"], env=env)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `~`")]
    assert len(rows) == 1, result.stdout
    cells = UNESCAPED_PIPE.split(rows[0])[1:-1]
    assert len(cells) == 5, f"the row keeps its five cells: {cells}"
    authorization = cells[4].strip()
    assert authorization.startswith("⛔ default-deny (`"), "refused, and the actor is one literal code span"
    span = "`" + FORGED.replace("|", "\\|") + "`"
    assert span in authorization, "her whole email, as written, in that span"
    reason = cells[3]
    for escaped in ("\\|", "\\:white\\_check\\_mark\\:", "\\[ok\\](https\\://evil.example)", "\\&\\#60;b"):
        assert escaped in reason, (escaped, reason)
