"""`mlcp schema`: print one kind's schema, write all of them, or check they are fresh."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane import schemas
from tests.controlplane.helpers import mlcp


@pytest.mark.parametrize("kind", ["Pipeline", "pipeline", "ModelPromotion", "config"])
def test_prints_the_schema_of_a_kind_on_stdout(kind: str) -> None:
    result = mlcp("schema", kind)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == schemas.generate()[f"{kind.lower()}.json"]


def test_unknown_kind_is_a_usage_error_listing_the_kinds() -> None:
    result = mlcp("schema", "Sandbox")
    assert result.exit_code == 2
    assert "unknown kind 'Sandbox'" in result.stderr
    assert "pipeline" in result.stderr
    assert result.stdout == ""


def test_no_kind_is_a_usage_error() -> None:
    result = mlcp("schema")
    assert result.exit_code == 2
    assert "name a kind" in result.stderr


def test_write_then_check_passes(tmp_path: Path) -> None:
    written = mlcp("schema", "--write", tmp_path / "schemas")
    assert written.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "schemas").iterdir()) == sorted(schemas.generate())
    checked = mlcp("schema", "--check", tmp_path / "schemas")
    assert checked.exit_code == 0
    assert "up to date" in checked.stderr


def test_check_fails_on_an_edited_or_missing_schema(tmp_path: Path) -> None:
    mlcp("schema", "--write", tmp_path)
    (tmp_path / "quota.json").write_text("{}\n")
    (tmp_path / "tenant.json").unlink()
    result = mlcp("schema", "--check", tmp_path)
    assert result.exit_code == 1
    assert "stale schemas" in result.stderr
    assert "quota.json" in result.stderr
    assert "tenant.json" in result.stderr
    assert "make schemas" in result.stderr
