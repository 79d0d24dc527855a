"""The operator's limits reach every command that loads a config repo the same way: a bad `MLCP_MAX_*` is a clear
error before anything is read (docs/security.md, "Limits"), never a traceback from the middle of a load."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.loading import budgets
from tests.controlplane.helpers import TEMPLATE, mlcp

COMMANDS = {
    "validate": ["validate", TEMPLATE],
    "plan": ["plan", TEMPLATE, "--trusted-base", "HEAD"],
    "diff": ["diff", TEMPLATE, "--trusted-base", "HEAD"],
    "apply": ["apply", TEMPLATE, "--trusted-base", "HEAD", "--yes"],
    "approve": ["approve", TEMPLATE / "tenants/vision/promotions/detector-production.yaml", "--version", "1"],
    "run": ["run", "train-detector", "--repo", TEMPLATE],
    "policy can": ["policy", "can", "a@example.com", "update", "Pipeline", "--repo", TEMPLATE],
    "policy can --trusted-base": ["policy", "can", "a@example.com", "update", "Pipeline", "--trusted-base", "HEAD"],
    "policy validate": ["policy", "validate", "--repo", TEMPLATE],
    "reconcile": ["reconcile", "--repo", TEMPLATE, "--once"],
}


@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("MLCP_MAX_DEPTH", "lots", "$MLCP_MAX_DEPTH: 'lots' is not a positive whole number"),
        ("MLCP_MAX_DEPHT", "10", "unknown limit variable $MLCP_MAX_DEPHT"),
    ],
    ids=["not-a-number", "unknown"],
)
def test_a_bad_limit_variable_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str | Path], variable: str, value: str, said: str
) -> None:
    """Only validate and reconcile read the variables at their start: plan, apply, approve, run and policy met
    them in the first load, as a LimitError traceback (or, with limits read earlier in the process, not at all)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(budgets, "_active", budgets.Limits())  # limits read before: the command must read again
    monkeypatch.setenv(variable, value)
    result = mlcp(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1 and said in result.stderr, result.output
