"""Shared test helpers: a scratch copy of the repo template and short ways to check it.

Most tests start from the template (known valid), change one thing, and assert
that exactly the expected problem is reported at the expected place.
"""

from __future__ import annotations

import functools
import shutil
import textwrap
from pathlib import Path

import typer.testing
from typer.testing import CliRunner, Result

from controlplane.cli.app import app
from controlplane.errors import Diagnostic
from controlplane.loading.repo import load_repo
from controlplane.validation import validate

PROJECT = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT / "repo_template"
SPEC_DIRS = ("policies", "tenants")

QUOTA = """\
apiVersion: mlcp.dev/v1alpha1
kind: Quota
metadata:
  name: {name}
spec:
  hard:
    requests.cpu: "1"
"""
"""A one-quota spec; `.format(name=...)`."""


def copy_template(target: Path) -> Path:
    """The template's specs and mlcp.yaml under `target` (CI files and README left out)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in SPEC_DIRS:
        shutil.copytree(TEMPLATE / name, target / name)
    shutil.copy(TEMPLATE / "mlcp.yaml", target / "mlcp.yaml")
    return target


def spec_files(root: Path) -> int:
    """How many spec files `root` holds (the template grows as kinds are added: count, never assume)."""
    return len([p for top in SPEC_DIRS for p in (root / top).rglob("*.yaml")])


def write(root: Path, rel: str, text: str) -> Path:
    """Write dedented `text` to `root/rel`, creating folders."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def edit(root: Path, rel: str, old: str, new: str) -> Path:
    """Replace `old` (which must occur exactly once) by `new` in `root/rel`."""
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def problems(root: Path) -> list[Diagnostic]:
    """Every diagnostic `mlcp validate` would report for `root`."""
    return validate(load_repo(root))


def only(found: list[Diagnostic]) -> Diagnostic:
    """The single diagnostic in `found`; fails listing all of them otherwise."""
    assert len(found) == 1, "expected exactly one problem, got:\n" + "\n".join(d.render() for d in found)
    return found[0]


def assert_problem(root: Path, path: str, line: int, message: str, column: int | None = None) -> Diagnostic:
    """`root` has exactly one problem, in `path` at `line`, whose message contains `message`."""
    found = only(problems(root))
    assert (found.path, found.line) == (path, line), found.render()
    assert message in found.message, found.render()
    if column is not None:
        assert found.column == column, found.render()
    return found


# typer's CliRunner rebuilds the click command from `app` on every call, which costs
# more than validating the whole template; `app` is complete once imported, so build it once.
typer.testing._get_command = functools.cache(typer.testing._get_command)  # type: ignore[assignment]
runner = CliRunner()


def mlcp(*args: str | Path) -> Result:
    """Run the mlcp CLI in-process; stdout and stderr stay separate."""
    return runner.invoke(app, [str(a) for a in args])


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line containing `needle` in `path`."""
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {path}")
