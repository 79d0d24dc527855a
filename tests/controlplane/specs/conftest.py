"""Template specs as plain data, for model tests to start from and change."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.loading.yamldocs import parse
from tests.controlplane.helpers import TEMPLATE


@pytest.fixture
def template() -> Any:
    """`template("tenants/nlp/tenant.yaml")`: the parsed document, fresh for each call."""

    def load(rel: str) -> Any:
        (doc,) = parse((TEMPLATE / rel).read_text(encoding="utf-8"))
        return doc.data

    return load
