"""Alice, owner of vision and a model approver, picks production's next version by moving `staging` herself.

The production promotion, written by someone else, says "promote whatever `staging` holds". MLflow lets every
owner and editor of the tenant move `staging` and records no one for it, so Alice moved it to the version she
wanted and approved the promotion of that version: one person chose and approved. Now whoever may move the
alias (the tenant's owners and editors) never counts as an approver of what it names; a model approver from
outside the tenant does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.attacks import approvals, gitattack

pytestmark = pytest.mark.integration


def test_the_owner_who_moves_staging_never_approves_the_version_she_chose(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    approvers = "      - risk-officer@example.com\n"
    op.repo.edit(approvals.POLICY, approvers, approvers + "      - alice@example.com\n")
    op.repo.commit("alice reviews other tenants' models too", "admin")
    assert op.apply(tmp_path / "policy.jsonl").exit_code == 0

    approvals.move_staging(op, 3)  # Alice's own pick, as her MANAGE on vision's model lets her
    mine = approvals.approve(op, "alice")
    assert mine.exit_code == 0, mine.output
    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    shown = gitattack.said(result)
    assert "denied (approvals): 0 of 1" in shown, result.output
    assert "alice@example.com: may move `staging` in the registry" in shown
    assert approvals.production(op) == "1", "the version Alice chose was not promoted on her own approval"
    assert [r["rule"] for r in approvals.promotion_records(op, audit, "deny")] == ["approvals"]

    assert approvals.approve(op, "lead").exit_code == 0  # someone who cannot move staging reviews version 3
    assert op.apply(tmp_path / "reviewed.jsonl").exit_code == 0
    assert approvals.production(op) == "3"
