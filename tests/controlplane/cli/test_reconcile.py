"""`mlcp reconcile`: flags that cannot work (`--shards` combinations, listen addresses) are refused before anything
connects."""

from __future__ import annotations

from pathlib import Path

import pytest

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


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--listen", ":70000"], "Invalid value for '--listen': ':70000': port 70000 is not between 1 and 65535"),
        (["--listen", ":0"], "Invalid value for '--listen': ':0': port 0 is not between 1 and 65535"),
        (["--listen", ":8080", "--webhook-listen", "x:y"], "Invalid value for '--webhook-listen': 'x:y' is not"),
    ],
    ids=["past-65535", "zero", "webhook"],
)
def test_a_listen_address_that_cannot_be_served_is_a_usage_error(tmp_path: Path, flags: list[str], said: str) -> None:
    """`--listen :70000` started a controller listening on port 4464 (70000 modulo 65536), and `:0` on a port
    nobody was told; both are refused before anything starts."""
    result = mlcp("reconcile", "--repo", TEMPLATE, "--once", "--workdir", tmp_path, *flags)
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.stderr.replace("│", " ").split()), result.stderr
    assert not (tmp_path / "repo").exists(), "nothing was cloned"


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--lease-duration", "0s"], "Invalid value for '--lease-duration': '0s' is not between 1s and"),
        (["--lease-duration", "300ms"], "Invalid value for '--lease-duration': '300ms' is not between 1s and"),
        (["--lease-duration", "100000000h"], "Invalid value for '--lease-duration': '100000000h' is not between"),
        (["--shards", "1000000000"], "Invalid value for '--shards': Input should be less than or equal to 256"),
    ],
    ids=["zero", "under-a-second", "past-the-api-limit", "shards"],
)
def test_lease_timings_and_shard_counts_that_cannot_work_are_usage_errors(
    tmp_path: Path, flags: list[str], said: str
) -> None:
    """`--lease-duration 0s` ended in a traceback (lease timings must satisfy ...); 300ms was written as a Lease
    of 0 seconds and one past 2^31-1 seconds as more than the API server takes (renewals refused, never a leader);
    `--shards 1000000000` had every replica sort a billion shards every retry period. Refused before anything."""
    result = mlcp("reconcile", "--repo", TEMPLATE, "--workdir", tmp_path, *flags)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert said in " ".join(result.stderr.replace("│", " ").split()), result.stderr
    assert not (tmp_path / "repo").exists(), "nothing was cloned"
