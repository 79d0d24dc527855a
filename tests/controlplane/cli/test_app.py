"""The CLI imports a command's modules only when it runs: `mlcp validate` never loads the cluster clients."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from controlplane.cli import app as cli
from tests.controlplane.helpers import copy_template

_PROBE = """
import json, sys
from controlplane.cli.app import main
sys.argv = ["mlcp", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _imported(*args: str) -> tuple[int, set[str]]:
    """The exit code of `mlcp ARGS` in a fresh interpreter, and every module it imported."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["code"], set(found["modules"])


def _heavy(modules: set[str]) -> set[str]:
    roots = ("kubernetes", "git", "reconciler", "controlplane.audit", "mlflow")
    return {m for m in modules if m.split(".")[0] in roots or m.startswith(roots)}


def test_validate_imports_no_cluster_client_audit_or_git(tmp_path: Path) -> None:
    code, modules = _imported("validate", str(copy_template(tmp_path / "repo")))
    assert code in (0, None)
    assert "controlplane.cli.validate" in modules
    assert _heavy(modules) == set(), "mlcp validate needs none of the plan and apply machinery"
    assert not {"controlplane.cli.plan", "controlplane.cli.apply", "controlplane.cli.audit"} & modules


def test_version_imports_no_command() -> None:
    code, modules = _imported("--version")
    assert code in (0, None)
    assert not {m for m in modules if m.startswith("controlplane.cli.") and m != "controlplane.cli.app"}


def test_help_lists_every_command_in_order_and_a_typo_gets_a_hint() -> None:
    shown = CliRunner().invoke(cli.app, ["--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    listed = [line.split()[1] for line in shown.output.splitlines() if line.startswith("│ ") and len(line.split()) > 2]
    assert [name for name in listed if name in cli.LAZY] == list(cli.LAZY)
    typo = CliRunner().invoke(cli.app, ["plna"])
    assert typo.exit_code == 2 and "plan" in typo.output


def test_a_group_and_an_alias_build_as_when_registered_eagerly() -> None:
    audit = CliRunner().invoke(cli.app, ["audit", "--help"], env={"COLUMNS": "200"})
    assert audit.exit_code == 0 and "verify" in audit.output
    diff = CliRunner().invoke(cli.app, ["diff", "--help"], env={"COLUMNS": "200"})
    assert diff.exit_code == 0 and "Alias of `mlcp plan`" in diff.output and "--detailed-exitcode" in diff.output
