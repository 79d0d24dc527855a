"""Fixtures for the controlplane tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controlplane.helpers import copy_template


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh, valid copy of the repo template's specs."""
    return copy_template(tmp_path / "repo")
