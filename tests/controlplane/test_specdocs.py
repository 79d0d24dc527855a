"""docs/specs.md: generated from the models, complete, and never stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from controlplane import specdocs
from controlplane.specs import KINDS
from controlplane.specs.repo_config import RepoConfig
from tests.controlplane.helpers import PROJECT

SPECS_MD = PROJECT / "docs/specs.md"


def test_checked_in_reference_is_fresh() -> None:
    assert not specdocs.stale(SPECS_MD), "run `make docs` and commit docs/specs.md"


def test_stale_detects_an_edit_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "specs.md"
    assert specdocs.stale(path)
    assert specdocs.main([str(path)]) == 0
    assert specdocs.main(["--check", str(path)]) == 0
    path.write_text(path.read_text().replace("DNS label", "name"))
    assert specdocs.main(["--check", str(path)]) == 1


def _models(model: type[BaseModel]) -> set[type[BaseModel]]:
    found = {model}
    for field in model.model_fields.values():
        for child in specdocs._nested(field.annotation):
            found |= _models(child)
    return found


@pytest.mark.parametrize("kind", [*sorted(KINDS), "Config"])
def test_every_field_of_every_model_is_documented_with_its_description(kind: str) -> None:
    text = specdocs.render()
    root = RepoConfig if kind == "Config" else KINDS[kind]
    for model in _models(root):
        for name, field in model.model_fields.items():
            key = field.alias or name
            rows = [line for line in text.splitlines() if line.startswith(f"| `{key}` |")]
            assert rows, f"{model.__name__}.{key} is missing"
            if field.description:
                assert any(" ".join(field.description.split()).replace("|", "\\|") in row for row in rows), key


def test_every_link_points_at_an_anchor() -> None:
    text = specdocs.render()
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links
    assert links <= anchors


def test_required_fields_and_defaults_are_shown() -> None:
    text = specdocs.render()
    assert "| `owners` | list of person (at least 1 item) | **required** |" in text
    assert '| `timezone` | string | `"UTC"` |' in text
    assert "| `deletionProtection` | boolean | `true` |" in text
    assert "| `concurrencyPolicy` | `Allow` \\| `Forbid` \\| `Replace` |" in text
