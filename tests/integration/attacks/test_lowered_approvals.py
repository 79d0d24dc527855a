"""Alice, owner of vision, sets `requiredApprovals: 0` on her own production promotion.

Before, the approval count was the spec's own field, so the author of a
promotion decided how many approvals it needed, and 0 let it through. Now
approval rules are policy, read from the trusted base: the template's policy
requires one approval from the model approvers for `production`, and a spec may
only ask for more. Her promotion stays blocked until a model approver who is
not its author approves it; then, and only then, the alias moves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.attacks import approvals, gitattack
from tests.integration.mlflow_rest import MlflowRest

pytestmark = pytest.mark.integration


def test_a_promotion_cannot_lower_the_approvals_the_policy_requires(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    rel = f"tenants/{op.repo.repo.vision}/{approvals.PROMOTION}"
    approvals.move_staging(op, 2)
    op.repo.edit(rel, "requiredApprovals: 1", "requiredApprovals: 0")
    op.repo.edit(rel, "maxReplicas: 3", "maxReplicas: 4")
    op.repo.commit("vision: ship version 2, no need to wait", "alice")

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    shown = gitattack.said(result)
    assert "denied (approvals): 0 of 1 approval(s)" in shown, result.output
    assert "(the policy requires 1; the spec asks for 0)" in shown
    assert approvals.production(op) == "1", "production did not move"
    [denied] = approvals.promotion_records(op, audit, "deny")
    assert denied["rule"] == "approvals" and denied["actors"] == ["alice@example.com"]

    code, log = op.reconcile_once(tmp_path / "loop.jsonl")
    assert code == 1, log[-2000:]
    assert approvals.production(op) == "1"
    assert [r["rule"] for r in approvals.promotion_records(op, tmp_path / "loop.jsonl", "deny")] == ["approvals"]

    self_approval = approvals.approve(op, "alice")
    assert self_approval.exit_code == 0, self_approval.output
    assert "alice@example.com: authors cannot approve" in gitattack.said(op.plan())

    approved = approvals.approve(op, "lead")
    assert approved.exit_code == 0, approved.output
    result = op.apply(tmp_path / "approved.jsonl")
    assert result.exit_code == 0, result.output
    assert approvals.production(op) == "2", "a model approver's approval is what lets it through"


def test_a_promotion_must_keep_the_gates_the_policy_requires(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    signed = gitattack.signed_repo(tmp_path, prefix, approvals=True)
    policy = signed.root / "policies/access.yaml"
    policy.write_text(
        policy.read_text().replace(
            "        groups: [model-approvers]\n",
            "        groups: [model-approvers]\n"
            "      gates:\n        - {metric: val_map, comparison: '>=', threshold: 0.6}\n",
        )
    )
    signed.git("add", "-A")
    signed.git("commit", "-q", "--amend", "--no-edit", "-S")
    signed.repo.initial = signed.head()
    gitattack.register_model(MlflowRest(mlflow_uri), signed.repo, 2)
    op = gitattack.Operator(signed, kubeconfig, mlflow_uri, tmp_path)
    op.first_apply()
    rel = f"tenants/{op.repo.repo.vision}/{approvals.PROMOTION}"
    approvals.move_staging(op, 2)
    op.repo.edit(rel, "threshold: 0.6", "threshold: 0.1")  # a weaker gate than the policy's
    op.repo.commit("vision: relax the gate", "alice")
    assert approvals.approve(op, "lead").exit_code == 0

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    assert "denied (approval-policy): the policy requires the gate(s) val_map >= 0.6" in gitattack.said(result)
    assert approvals.production(op) is None, "nothing was promoted: not the first version, not the second"
    [denied] = approvals.promotion_records(op, audit, "deny")
    assert denied["rule"] == "approval-policy"
