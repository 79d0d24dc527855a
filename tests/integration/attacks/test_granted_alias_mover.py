"""Carol, a model approver in no tenant of the model, is granted EDIT on it outside mlcp, picks production's next
version by moving `staging`, and approves it, in a real basic-auth MLflow.

The production promotion says "promote whatever `staging` holds", so whoever moves `staging` chooses the
version, and MLflow records no one for a move. mlcp kept the tenant's owners and editors (to whom it grants
EDIT and MANAGE) from approving it, but MLflow lets anyone with EDIT on the model move its aliases, and an MLflow
admin granted Carol EDIT by hand: she moved `staging` to version 3 and her approval promoted it, one person
choosing and approving. Now the registry itself is asked, per approver, whether any MLflow user of theirs may
move the alias; one who may (or of whom it cannot tell) does not count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration import test_mlflow_permissions as basic_auth
from tests.integration.attacks import approvals, gitattack
from tests.integration.test_mlflow_permissions import PASSWORD, AuthServer

pytestmark = pytest.mark.integration
server = basic_auth.auth_server
"""The basic-auth MLflow of the permissions tests, started once for this module too."""


@dataclass
class AuthOperator(gitattack.Operator):
    """The operator's `mlcp`, acting in MLflow as its admin."""

    admin: tuple[str, str] = ("", "")

    @property
    def env(self) -> dict[str, str | None]:
        user, password = self.admin
        return {**super().env, "MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}


def test_an_approver_granted_edit_outside_mlcp_never_approves_the_version_she_moved_staging_to(
    server: AuthServer, tmp_path: Path, prefix: str, kubeconfig: Path
) -> None:
    signed = gitattack.signed_repo(tmp_path, prefix, approvals=True)
    for email in ("alice", "bob", "carol", "dave", "ml-lead"):  # every tenant person and approver has a user
        server.rest().post("users/create", username=f"{email}@example.com", password=PASSWORD)
    gitattack.register_model(server.rest(), signed.repo, 3)  # staging at 1
    op = AuthOperator(signed, kubeconfig, server.uri, tmp_path, admin=server.admin)
    approvers = "      - risk-officer@example.com\n"
    signed.edit(approvals.POLICY, approvers, approvers + "      - carol@example.com\n")
    signed.commit("carol reviews models too (she is in no tenant of vision's model)", "admin")
    op.first_apply()
    model = signed.repo.model
    assert gitattack.alias(server.rest(), model) is None, "nobody has approved the promotion of version 1 yet"
    assert approvals.approve(op, "lead").exit_code == 0  # the ML lead holds READ only: her approval counts
    assert op.apply(tmp_path / "approved-first.jsonl").exit_code == 0
    assert gitattack.alias(server.rest(), model) == "1"

    # an MLflow admin grants Carol EDIT on vision's model by hand; mlcp's Tenant specs never name her
    grant = {"username": "carol@example.com", "resource_type": "registered_model", "resource_id": model}
    server.grants_api().post("users/permissions/grant", **grant, permission="EDIT")
    carol = server.rest("carol@example.com")
    carol.post("registered-models/alias", name=model, alias="staging", version="3")  # her pick
    mine = approvals.approve(op, "carol")
    assert mine.exit_code == 0, mine.output

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    shown = gitattack.said(result)
    assert "denied (approvals): 0 of 1" in shown, result.output
    assert "carol@example.com: MLflow user carol@example.com has EDIT on registered model" in shown, shown
    assert "may move `staging`, which chose the version" in shown, shown
    assert gitattack.alias(server.rest(), model) == "1", "the version Carol chose was not promoted on her approval"
    assert [r["rule"] for r in approvals.promotion_records(op, audit, "deny")] == ["approvals"]

    assert approvals.approve(op, "lead").exit_code == 0  # someone who cannot move staging reviews version 3
    assert op.apply(tmp_path / "reviewed.jsonl").exit_code == 0
    assert gitattack.alias(server.rest(), model) == "3"
