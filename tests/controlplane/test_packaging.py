"""What the wheel and the controller image ship.

The whole config-repo template, so `mlcp init` works after a plain `pip
install`; and only the product: the test environment (`devenv/`) and its
development-only dependencies (`cryptography`) stay out.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel `pip wheel .` builds from this checkout (the same build the controller image runs).

    From a clean copy: setuptools reuses a checkout's `build/lib`, where modules since moved may linger.
    """
    out = tmp_path_factory.mktemp("wheel")
    junk = (".git", ".venv", "build", "dist", "*.egg-info", "*cache*", ".mlcp", "__pycache__", ".hypothesis")
    source = out / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*junk))
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)]
    subprocess.run(argv, check=True, timeout=300, cwd=out)
    (built,) = out.glob("mlcp-*.whl")
    return zipfile.ZipFile(built)


def test_wheel_ships_only_the_product_packages(wheel: zipfile.ZipFile) -> None:
    top = {name.split("/", 1)[0] for name in wheel.namelist()}
    packages = {t for t in top if not t.endswith((".dist-info", ".data"))}
    assert packages == {"controlplane", "reconciler"}
    assert not [n for n in wheel.namelist() if "devenv" in n], "the test environment must stay out of the wheel"


def test_runtime_dependencies_lack_the_test_environments(wheel: zipfile.ZipFile) -> None:
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    requires = [
        line.removeprefix("Requires-Dist:").strip()
        for line in wheel.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    runtime = [r for r in requires if "extra ==" not in r]
    assert runtime and not [r for r in runtime if r.lower().startswith("cryptography")], runtime
    assert any(r.startswith("cryptography") and 'extra == "dev"' in r for r in requires)  # tests still get it


def test_controller_image_copies_only_product_sources() -> None:
    copies = re.findall(r"^COPY (?!--from)(.+) \S+$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    sources = {source for line in copies for source in line.split()}
    assert sources == {"pyproject.toml", "README.md", "controlplane", "reconciler", "repo_template"}
