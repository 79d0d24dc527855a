"""A committer who may change nothing goes after /metrics with tenant folders of their choosing.

Validation runs before authorization, so anyone who can push a commit decides which tenant folders exist and
what they are called. Each folder a pass set aside once became a series named after it (kept for the life of
the process), and a name git stores as bytes that are not UTF-8 made every later scrape fail. The metrics must
count those tenants and never carry their names.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devenv import tenantrepo
from reconciler.passes import Reconciler
from tests.reconciler.test_pass_cost import _reconciler as seeded

MARK = "attacker-chosen-text"


def _series(rec: Reconciler) -> list[tuple[str, dict[str, str]]]:
    families = text_string_to_metric_families(rec.metrics.exposition().decode())
    return [(sample.name, sample.labels) for family in families for sample in family.samples]


def _commit(root: Path, message: str) -> None:
    tenantrepo.git(root, "add", "-A")
    tenantrepo.git(root, "commit", "-qm", message)


def test_broken_folders_under_fresh_names_add_no_series_and_no_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, root, _ = seeded(tmp_path, monkeypatch, 2)
    assert rec.run_pass().error is None
    for round_ in range(3):
        for i in range(10):
            folder = root / "tenants" / f"x{round_}-{i}-{MARK}"
            folder.mkdir()
            (folder / "tenant.yaml").write_text("kind: Tenant\nspec: {bogus: 1}\n")
        _commit(root, f"junk {round_}")
        assert len(rec.run_pass().failed) == 10
        if round_ == 0:
            after_first = _series(rec)
        for i in range(10):
            tenantrepo.git(root, "rm", "-rq", f"tenants/x{round_}-{i}-{MARK}")
        _commit(root, f"drop junk {round_}")
    assert not rec.run_pass().failed
    rec.close()
    series = _series(rec)
    assert MARK not in rec.metrics.exposition().decode()
    assert {name for name, _ in series} == {name for name, _ in after_first}, "series came and stayed"
    errors = {labels["stage"]: labels for name, labels in series if name == "mlcp_reconcile_errors_total"}
    assert set(errors) == {"tenant"} and set(errors["tenant"]) == {"stage"}
    families = text_string_to_metric_families(rec.metrics.exposition().decode())
    tenant_errors = next(f for f in families if f.name == "mlcp_reconcile_errors")
    assert [s.value for s in tenant_errors.samples if s.name.endswith("_total")] == [30.0]


def test_a_tenant_folder_named_in_bytes_that_are_not_utf8_stops_the_pass_and_not_the_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, root, _ = seeded(tmp_path, monkeypatch, 2)
    assert rec.run_pass().error is None
    folder = root / "tenants" / os.fsdecode(b"ev\xffl")  # git stores any bytes as a name
    folder.mkdir()
    (folder / "tenant.yaml").write_bytes(b"kind: Tenant\nspec: {bogus: 1}\n")
    _commit(root, "a folder git stores as bytes")
    result = rec.run_pass()
    assert result.stage == "validate" and "not a tenant's name" in (result.error or ""), result.error
    assert not result.failed, "the folder was taken for a tenant"
    rec.metrics.exposition().decode()  # encodes: a scrape answers
    tenantrepo.git(root, "rm", "-rq", os.fsdecode(b"tenants/ev\xffl"))
    tenantrepo.git(root, "commit", "-qm", "drop it")
    assert rec.run_pass().error is None
    rec.close()
    assert all(labels.get("stage") != "tenant" for _, labels in _series(rec))
