"""A commit points mlcp elsewhere: a kubeconfig whose exec plugin runs a command, a tracking URI that collects
the operator's MLflow credentials, another controller namespace.

Before, `mlcp.yaml` overrode the operator's `$KUBECONFIG` and
`$MLFLOW_TRACKING_URI`: the template CI runs `mlcp plan` on every pull request,
so the command ran on the CI runner and the credentials went to the attacker.
Now the operator's settings decide where mlcp connects, and mlcp.yaml only
states expectations: a disagreement stops mlcp with rule `operator-targets`
before anything connects, the refusal is audited, and the command never runs.
Even the platform admin's own commit gets no further: the rule is about who
decides where mlcp connects, not about who committed.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from kubernetes import client, config

from tests.integration.attacks import gitattack

pytestmark = pytest.mark.integration

EVIL_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{{name: evil, cluster: {{server: "https://127.0.0.1:1"}}}}]
users:
  - name: evil
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        command: /bin/sh
        args: [{script}]
        interactiveMode: Never
contexts: [{{name: evil, context: {{cluster: evil, user: evil}}}}]
current-context: evil
"""
EVIL_PLUGIN = """\
#!/bin/sh
touch {marker}
echo '{{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {{"token": "x"}}}}'
"""


class _Collector(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def _any(self) -> None:
        type(self).seen.append(f"{self.command} {self.path} auth={self.headers.get('Authorization')}")
        self.send_response(404)
        self.end_headers()

    do_GET = do_POST = _any

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def collector() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that records every request and its Authorization header."""
    _Collector.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Collector.seen
    finally:
        server.shutdown()
        server.server_close()


def _refusals(op: gitattack.Operator, audit: Path) -> list[dict[str, object]]:
    return [r for r in op.records(audit, "--decision", "deny") if r["rule"] == "operator-targets"]


def test_a_repo_named_kubeconfig_never_runs_its_exec_plugin(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo = op.repo
    marker = tmp_path / "exec-plugin-ran"
    repo.write("evil.sh", EVIL_PLUGIN.format(marker=marker))
    repo.write("evil.kubeconfig", EVIL_KUBECONFIG.format(script=repo.root / "evil.sh"))
    repo.edit("mlcp.yaml", "cluster:\n", "cluster:\n  kubeconfig: evil.kubeconfig\n  context: evil\n")
    repo.commit("cluster: use the new credentials", "admin")

    planned = op.plan()
    assert planned.exit_code == 1
    shown = gitattack.said(planned)
    assert "refused (operator-targets)" in shown and "mlcp never follows a config repo to another endpoint" in shown
    audit = tmp_path / "attack.jsonl"
    applied = op.apply(audit)
    assert applied.exit_code == 1
    code, log = op.reconcile_once(tmp_path / "loop.jsonl")
    assert code == 1 and "operator-targets" in log, log[-2000:]
    assert not marker.exists(), "the repo's exec plugin never ran"
    [refusal] = _refusals(op, audit)
    assert "cluster.kubeconfig 'evil.kubeconfig'" in str(refusal["reason"])
    assert _refusals(op, tmp_path / "loop.jsonl"), "the loop audits the refusal too"
    assert op.applied_revision(k8s_admin) != repo.head()

    # the control: the plugin is real, and any client that followed this kubeconfig would have run it
    configuration = client.Configuration()
    config.load_kube_config(str(repo.root / "evil.kubeconfig"), client_configuration=configuration)
    assert marker.exists()


def test_a_repo_named_tracking_uri_never_receives_the_operators_credentials(
    tmp_path: Path,
    prefix: str,
    kubeconfig: Path,
    mlflow_uri: str,
    collector: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "operator")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret")
    evil, seen = collector
    op.repo.edit("mlcp.yaml", "  trackingUri: null", f"  trackingUri: {evil}")
    op.repo.commit("registry: the new tracking server", "admin")

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    assert result.exit_code == 1
    assert "expects registry.trackingUri" in gitattack.said(result)
    code, log = op.reconcile_once(tmp_path / "loop.jsonl")
    assert code == 1, log[-2000:]
    assert seen == [], "nothing, let alone the operator's credentials, went to the repo's endpoint"
    assert _refusals(op, audit) and _refusals(op, tmp_path / "loop.jsonl")


def test_a_repo_cannot_move_mlcps_records_to_another_namespace(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    op.repo.edit("mlcp.yaml", f"controllerNamespace: {op.repo.repo.system_ns}", "controllerNamespace: kube-system")
    op.repo.commit("move mlcp's state", "admin")
    result = op.plan()
    assert result.exit_code == 1
    assert "expects cluster.controllerNamespace 'kube-system'" in gitattack.said(result)
