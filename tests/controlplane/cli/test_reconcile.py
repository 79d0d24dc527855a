"""`mlcp reconcile --shards`: the combinations that cannot work are refused before anything connects."""

from __future__ import annotations

from pathlib import Path

from tests.controlplane.helpers import TEMPLATE, mlcp


def test_shards_with_once_is_refused_with_a_hint(tmp_path: Path) -> None:
    result = mlcp("reconcile", "--repo", TEMPLATE, "--shards", "4", "--once", "--workdir", tmp_path)
    assert result.exit_code == 1
    assert "--once runs one pass of every tenant" in result.stderr and "drop --shards or --once" in result.stderr


def test_shards_with_a_file_audit_log_is_refused_with_a_hint(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    result = mlcp("reconcile", "--repo", TEMPLATE, "--shards", "4", "--audit-log", log, "--workdir", tmp_path)
    assert result.exit_code == 1
    assert "each shard keeps its own audit chain in the cluster" in result.stderr
    assert not log.exists(), "nothing was written"


def test_a_negative_number_of_shards_is_a_usage_error(tmp_path: Path) -> None:
    result = mlcp("reconcile", "--repo", TEMPLATE, "--shards", "-1", "--workdir", tmp_path)
    assert result.exit_code == 2 and "--shards" in result.stderr
