"""`mlcp shards`: what an operator reads in an incident, and the errors it gets instead of a traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from controlplane.cli import auditlog
from controlplane.cli.app import app
from reconciler import sharding
from reconciler.backends.base import BackendError
from reconciler.leases import LEADER_LEASE
from reconciler.membership import SHARDS_ANNOTATION, member_lease

runner = CliRunner()


def _lease(name: str, holder: str, age: float = 1.0, **annotations: str) -> dict[str, Any]:
    renewed = (datetime.now(UTC) - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    spec = {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": 15}
    return {"metadata": {"name": name, "annotations": annotations}, "spec": spec}


class _Leases:
    def __init__(self, items: list[dict[str, Any]] | BackendError) -> None:
        self.items = items
        self.paths: list[str] = []

    def request(self, method: str, path: str, *_: Any, **__: Any) -> dict[str, Any]:
        self.paths.append(f"{method} {path}")
        if isinstance(self.items, BackendError):
            raise self.items
        return {"items": self.items}


def _serve(monkeypatch: pytest.MonkeyPatch, items: list[dict[str, Any]] | BackendError) -> _Leases:
    kube = _Leases(items)
    monkeypatch.setattr(auditlog, "cluster_client", lambda _targets, _hint: kube)
    return kube


def test_text_names_the_leader_members_holders_and_a_tenants_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [
        _lease(LEADER_LEASE, "r1"),
        _lease(member_lease("r1"), "r1", **{SHARDS_ANNOTATION: "2"}),
        _lease(member_lease("r2"), "r2", **{SHARDS_ANNOTATION: "2"}),
        _lease(sharding.lease_name(0), "r1"),
        _lease(sharding.lease_name(1), "r2", age=90),
    ]
    kube = _serve(monkeypatch, items)
    result = runner.invoke(app, ["shards", "--controller-namespace", "ops", "--tenant", "vision"])
    assert result.exit_code == 0, result.output
    assert kube.paths == ["GET /apis/coordination.k8s.io/v1/namespaces/ops/leases"], "one LIST, nothing written"
    lines = result.stdout.splitlines()
    assert lines[0] == "ops: 2 shards; leader r1"
    assert "  r1  (2 shards, renewed 1s ago)" in lines
    assert any(line.split()[:2] == ["0", "r1"] for line in lines)
    assert any(line.split()[:2] == ["1", "-"] and "(run out, last r2)" in line for line in lines)
    shard = sharding.shard_of("vision", 2)
    holder = "r1" if shard == 0 else "nobody now"
    assert lines[-1] == f"tenant vision: shard {shard}, held by {holder}"


def test_an_unsharded_controller_is_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    _serve(monkeypatch, [_lease(LEADER_LEASE, "r1")])
    result = runner.invoke(app, ["shards"])
    assert result.exit_code == 0, result.output
    assert "no sharded controller" in result.stderr and "leader r1" in result.stderr


def test_json_is_one_document(monkeypatch: pytest.MonkeyPatch) -> None:
    _serve(monkeypatch, [_lease(member_lease("r1"), "r1", **{SHARDS_ANNOTATION: "1"})])
    result = runner.invoke(app, ["shards", "-o", "json", "-t", "vision"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["shards"] == 1 and report["tenants"] == [{"tenant": "vision", "shard": 0, "holder": None}]


def test_a_forbidden_list_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _serve(monkeypatch, BackendError('leases is forbidden: User "dev" cannot list resource "leases"'))
    result = runner.invoke(app, ["shards", "--controller-namespace", "ops"])
    assert result.exit_code == 1
    assert "cannot read the Leases in ops" in result.stderr
    assert "needs `list` on leases in ops" in result.stderr


def test_a_lease_holder_with_escape_sequences_is_shown_not_obeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoever may write Leases there names the holder: its control characters are printed as escapes."""
    holder = "r1\x1b[2K\x1b[1A"
    items = [_lease(member_lease(holder), holder, **{SHARDS_ANNOTATION: "1"}), _lease(sharding.lease_name(0), holder)]
    _serve(monkeypatch, items)
    result = runner.invoke(app, ["shards", "-t", "vision"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert "tenant vision: shard 0, held by r1\\x1b[2K\\x1b[1A" in result.stdout


def test_a_kubeconfig_that_is_no_kubeconfig_is_one_error_with_a_hint_for_this_command(tmp_path: Path) -> None:
    """A YAML list as the kubeconfig ended in a TypeError traceback; the hint named --audit-log, which this
    command does not have."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("- 1\n- 2\n", encoding="utf-8")
    result = runner.invoke(app, ["shards", "--kubeconfig", str(kubeconfig)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and f"cannot load kubeconfig {kubeconfig}: it is not a kubeconfig" in said
    assert "--audit-log" not in said and "--kubeconfig" in said
