"""Approvals that should no longer count: given for another model version, or before the spec last changed.

An approver reviews a promotion and the version it resolves to. Before, an
approval named only the spec's content: when `fromAlias` moved to another
version (anyone with EDIT on the model can move `staging`), the old approval
still promoted the new, unreviewed version; and when a spec was changed and
then changed back, approvals of the old content came back to life. Now an
approval names the content AND the version, and only approvals committed after
the spec's last change count.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.attacks import approvals, gitattack

pytestmark = pytest.mark.integration


def test_an_approval_is_void_when_from_alias_moves_to_another_version(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    rel = f"tenants/{op.repo.repo.vision}/{approvals.PROMOTION}"
    approvals.move_staging(op, 2)
    op.repo.edit(rel, "maxReplicas: 3", "maxReplicas: 4")
    op.repo.commit("vision: promote what staging holds", "alice")
    approved = approvals.approve(op, "lead")
    assert approved.exit_code == 0 and "version=2" in op.repo.git("log", "-1", "--format=%B"), approved.output

    approvals.move_staging(op, 3)  # after the review: version 3 was never approved
    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    shown = gitattack.said(result)
    assert "denied (approvals): 0 of 1" in shown and "ml-lead@example.com: approved model version 2, not 3" in shown
    assert approvals.production(op) == "1"
    assert [r["rule"] for r in approvals.promotion_records(op, audit, "deny")] == ["approvals"]
    code, log = op.reconcile_once(tmp_path / "loop.jsonl")
    assert code == 1 and approvals.production(op) == "1", log[-2000:]

    assert approvals.approve(op, "lead").exit_code == 0  # the approver reviews version 3 too
    assert op.apply(tmp_path / "reviewed.jsonl").exit_code == 0
    assert approvals.production(op) == "3"


def test_an_approval_does_not_come_back_when_the_spec_is_changed_back(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    rel = f"tenants/{op.repo.repo.vision}/{approvals.PROMOTION}"
    approvals.move_staging(op, 2)
    op.repo.edit(rel, "maxReplicas: 3", "maxReplicas: 4")
    op.repo.commit("vision: promote version 2", "alice")
    assert approvals.approve(op, "lead").exit_code == 0

    op.repo.edit(rel, "maxReplicas: 4", "maxReplicas: 40")
    op.repo.commit("vision: scale out", "alice")
    op.repo.edit(rel, "maxReplicas: 40", "maxReplicas: 4")  # the approved content again, after the approval
    op.repo.commit("vision: scale back", "alice")

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    assert "denied (approvals): 0 of 1" in gitattack.said(result), result.output
    assert approvals.production(op) == "1", "an approval older than the spec's last change does not count"
    [denied] = approvals.promotion_records(op, audit, "deny")
    assert denied["rule"] == "approvals"
