"""A write whose answer is lost: the create reached the API server, mlcp never heard back.

Under load a write's answer can time out after the server has acted on it (a
1,000-tenant sharded run lost namespace creates that way). mlcp records an
object in its inventory before creating it; a create that failed without an
answer (`Outcome.uncertain`) keeps that record, so the next apply finds the
namespace as the tenant's own. Before, the record was dropped with the failed
create, and the namespace, existing with mlcp's labels but unrecorded, was
refused as a stranger's under `namespace-ownership` until an administrator
adopted it. Through the real CLI against the real API server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from typer.testing import CliRunner

from controlplane.cli.app import app
from reconciler.backends.kubernetes_answers import Unanswered
from reconciler.backends.kubernetes_client import KubeClient
from tests.integration import configrepo

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_a_namespace_create_whose_answer_is_lost_is_still_the_tenants_on_the_next_apply(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = configrepo.make(tmp_path, prefix)
    name = repo.add_tenant("lost")
    repo.commit("a tenant")
    env = {
        "KUBECONFIG": str(kubeconfig),
        "MLFLOW_TRACKING_URI": None,  # the cluster only
        "MLCP_TRUSTED_BASE": repo.initial,
        "MLCP_CONTROLLER_NAMESPACE": repo.system_ns,
    }
    real = KubeClient.server_side_apply
    lost: list[str] = []

    def answer_lost(self: KubeClient, path: str, body: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result = real(self, path, body, *args, **kwargs)  # the server acts on it
        if path == f"/api/v1/namespaces/{name}" and not lost:
            lost.append(path)
            raise Unanswered("no answer from the Kubernetes API: read timed out")
        return result

    monkeypatch.setattr(KubeClient, "server_side_apply", answer_lost)
    apply = ["apply", str(repo.root), "--yes", "--audit-log", str(tmp_path / "audit.jsonl")]
    first = runner.invoke(app, apply, env=env)
    monkeypatch.undo()
    assert lost and first.exit_code != 0, first.output
    assert "may have happened" in first.output, first.output
    assert client.CoreV1Api(k8s_admin).read_namespace(name).metadata.name == name, "the create did happen"

    second = runner.invoke(app, apply, env=env)
    assert second.exit_code == 0, second.output
    assert "namespace-ownership" not in second.output and "blocked" not in second.output, second.output
    out = tmp_path / "plan.json"
    third = runner.invoke(app, ["plan", str(repo.root), "--out", str(out)], env=env)
    assert third.exit_code == 0, third.output
    summary = json.loads(out.read_text())["summary"]
    assert summary["blocked"] == 0 and summary["create"] == summary["update"] == 0, summary
