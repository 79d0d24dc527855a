"""A plan's two loads share parses: same results as separate loads, budgets enforced exactly as without sharing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from controlplane.loading import memo
from controlplane.loading.budgets import Budget, Limits
from controlplane.loading.repo import load_repo
from tests.controlplane.helpers import QUOTA, write

TENANT = """\
apiVersion: mlcp.dev/v1alpha1
kind: Tenant
metadata:
  name: team
spec:
  owners: [owner@example.com]
"""


def _repo(root: Path, names: list[str]) -> Path:
    for name in names:
        write(root, f"tenants/team/{name}.yaml", QUOTA.format(name=name))
    write(root, "tenants/team/tenant.yaml", TENANT)
    return root


def _summary(root: Path, budget: Budget | None = None) -> tuple[list[str], list[str]]:
    repo = load_repo(root, budget=budget)
    return sorted(str(s.key) for s in repo.specs), [f"{d}" for d in repo.diagnostics]


def test_a_revision_and_its_base_parse_shared_files_once(tmp_path: Path) -> None:
    head = _repo(tmp_path / "head", ["a", "b", "c"])
    base = _repo(tmp_path / "base", ["a", "b"])
    alone = (_summary(head), _summary(base))
    assert not alone[0][1] and not alone[1][1]
    with memo.shared() as shared:
        first = load_repo(head)
        second = load_repo(base)
    assert (_summary(head), _summary(base)) == alone
    assert shared.hits == 2 * 3  # tenant.yaml, a and b: each parsed and validated once
    reused = {s.key: s.spec for s in first.specs}
    assert all(s.spec is reused[s.key] for s in second.specs)


def test_without_a_block_nothing_is_shared(tmp_path: Path) -> None:
    head = _repo(tmp_path / "head", ["a"])
    assert load_repo(head).specs[0].spec is not load_repo(head).specs[0].spec


def test_a_shared_parse_never_escapes_a_smaller_budget(tmp_path: Path) -> None:
    """A file parsed under the default limits and then read under a smaller one is refused as if never seen."""
    head = _repo(tmp_path / "head", ["a", "b"])
    small = replace(Limits(), file_nodes=5)
    expected = _summary(head, Budget(small))
    assert expected[1], "the small budget must refuse something for this test to mean anything"
    with memo.shared():
        load_repo(head)
        assert _summary(head, Budget(small)) == expected


def test_a_file_that_changed_is_parsed_again(tmp_path: Path) -> None:
    head = _repo(tmp_path / "head", ["a"])
    base = tmp_path / "base"
    write(base, "tenants/team/a.yaml", QUOTA.format(name="a").replace('"1"', '"2"'))
    with memo.shared():
        load_repo(head)
        changed = load_repo(base)
    assert changed.specs[0].spec.spec.hard == {"requests.cpu": "2"}
