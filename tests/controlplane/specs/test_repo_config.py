"""mlcp.yaml: every setting optional, safe defaults, typos refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.specs.repo_config import RepoConfig


def test_defaults_never_prune() -> None:
    config = RepoConfig.model_validate({})
    assert config.prune.enabled is False
    assert config.prune.allow_namespace_deletion is False
    assert config.cluster.controller_namespace is None  # an expectation only: the operator's setting decides


def test_template_config_is_valid(template: Any) -> None:
    assert RepoConfig.model_validate(template("mlcp.yaml")).registry.tracking_uri is None


@pytest.mark.parametrize("data", [{"prune": {"enabeld": True}}, {"kind": "Settings"}, {"apiVersion": "v1"}])
def test_typos_and_wrong_headers_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RepoConfig.model_validate(data)
