"""`mlcp run` before it reaches a cluster: a kubeconfig that cannot be loaded and an API server that does not
answer are one-line errors with a hint and exit 1, never a traceback (the runs against a real server are in
tests/integration/test_run_command.py)."""

from __future__ import annotations

from pathlib import Path

from tests.controlplane.helpers import TEMPLATE, mlcp

UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters:
  - name: nowhere
    cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}
users:
  - name: someone
    user: {token: not-a-real-token}
contexts:
  - name: nowhere
    context: {cluster: nowhere, user: someone}
current-context: nowhere
"""


def test_a_kubeconfig_that_cannot_be_loaded_is_one_clear_error(tmp_path: Path) -> None:
    result = mlcp("run", "train-detector", "--repo", TEMPLATE, "--kubeconfig", tmp_path / "missing")
    assert result.exit_code == 1
    assert "error: cannot load kubeconfig" in result.stderr and str(tmp_path / "missing") in result.stderr
    assert "--kubeconfig" in result.stderr and "Traceback" not in result.stderr


def test_an_api_server_that_does_not_answer_is_one_clear_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE, encoding="utf-8")
    result = mlcp("run", "train-detector", "--repo", TEMPLATE, "--kubeconfig", kubeconfig)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "error: cannot read the WorkflowTemplate: cannot reach the Kubernetes API at https://127.0.0.1:9" in (
        result.stderr
    )
    assert "--kubeconfig/--context" in result.stderr


def test_a_kubeconfig_that_is_no_kubeconfig_is_one_clear_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(b"\xff\xfe\x00")
    result = mlcp("run", "train-detector", "--repo", TEMPLATE, "--kubeconfig", kubeconfig)
    assert result.exit_code == 1 and "Traceback" not in result.stderr and result.exception is not None
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert f"error: cannot load kubeconfig {kubeconfig}: it is not a kubeconfig (UnicodeDecodeError" in result.stderr
