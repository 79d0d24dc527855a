"""`mlcp apply` when a system does not answer: what it writes, what it records, and how it says so.

A system whose live state could not be read while planning planned nothing. Its records must stay as they are:
recording what the plan holds of it (nothing) dropped every record of it, so a registry that blipped while
planning and answered again by the end of the apply lost mlcp's records of every experiment, model and alias.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.backends.base import BackendError
from reconciler.backends.mlflow import MlflowBackend
from reconciler.targets import Targets
from tests.integration.attacks import gitattack

pytestmark = pytest.mark.integration


def _records(mlflow_uri: str, tenant: str, op: gitattack.Operator) -> set[str]:
    """mlcp's MLflow records of `tenant`, as the operator's installation (its controller namespace) keeps them."""
    backend = MlflowBackend.connect(Targets(tracking_uri=mlflow_uri, controller_namespace=op.repo.repo.system_ns))
    assert backend is not None
    return {str(ref) for ref in backend.read().inventory.refs if tenant in str(ref)}


def test_a_registry_that_blips_while_planning_keeps_its_records_and_apply_says_it_was_not_read(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision = op.repo.repo.vision
    before = _records(mlflow_uri, vision, op)
    assert before, "the first apply recorded vision's registry objects"
    real, reads = MlflowBackend.read, []

    def blip(self: MlflowBackend):  # type: ignore[no-untyped-def]
        reads.append(1)
        if len(reads) == 1:  # the plan's read: MLflow does not answer (a restart, a network blip)
            raise BackendError(f"MLflow at {self.target}: cannot reach it (simulated outage)")
        return real(self)

    monkeypatch.setattr(MlflowBackend, "read", blip)
    op.repo.edit(f"tenants/{vision}/{gitattack.PIPELINE}", gitattack.OLD_IMAGE, "ghcr.io/example/vision-data:1.4.0")
    op.repo.commit("vision: new data image", "bob")
    result = op.apply(tmp_path / "blip.jsonl")
    monkeypatch.setattr(MlflowBackend, "read", real)
    assert result.exit_code == 1, gitattack.explain(result)
    assert "mlflow was not read when planning: nothing of it was applied" in result.output, result.output
    assert _records(mlflow_uri, vision, op) == before, "mlcp's records of vision's experiment, model and alias stay"


def test_an_unreachable_registry_is_reported_not_a_traceback(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision = op.repo.repo.vision
    op.repo.edit(f"tenants/{vision}/{gitattack.PIPELINE}", gitattack.OLD_IMAGE, "ghcr.io/example/vision-data:1.4.0")
    op.repo.commit("vision: new data image", "bob")
    args = ["--kubeconfig", str(kubeconfig), "--tracking-uri", "http://127.0.0.1:9"]
    result = op.cli("apply", str(op.repo.root), "--yes", "--audit-log", str(tmp_path / "a.jsonl"), *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), gitattack.explain(result)
    assert result.exit_code == 1 and "mlflow was not read when planning" in result.output, result.output
    assert "1 applied" in result.output, "the cluster's change was still applied"
