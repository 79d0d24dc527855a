"""The wheel ships the whole config-repo template, so `mlcp init` works after a plain `pip install`."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_file_is_shipped_as_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped: set[str] = set()
    for target, patterns in config["tool"]["setuptools"]["data-files"].items():
        assert target.startswith("share/mlcp/repo_template")
        for pattern in patterns:
            for path in ROOT.glob(pattern):
                rel = path.relative_to(ROOT / "repo_template").as_posix()
                folder = Path(rel).parent.as_posix()
                assert target.removeprefix("share/mlcp/repo_template").strip("/") == ("" if folder == "." else folder)
                shipped.add(rel)
    template = {
        p.relative_to(ROOT / "repo_template").as_posix() for p in (ROOT / "repo_template").rglob("*") if p.is_file()
    }
    assert template - shipped == set(), "add these template files to [tool.setuptools.data-files] in pyproject.toml"
