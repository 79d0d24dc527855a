"""A promotion that is denied or held cannot be carried out by moving the alias to its version by hand.

Every member of vision has EDIT on its model, so she can move `production`
herself (MLflow's UI, REST or SDK). When the alias sits at the version git
declares, whoever put it there, the plan once saw nothing to do: no change, so
nothing to authorize and nothing to heal. Against the real MLflow and API
server, through `mlcp plan`, `mlcp apply` and the real `mlcp reconcile --once`:

(a) Alice commits a promotion to version 2 that lacks its approval (denied),
    then moves production to 2 by hand: the plan shows the move from version
    1, mlcp's last, to 2 as a change that needs the approval, denied, and moves
    production back to 1; the serving keeps version 1. Once the ML lead
    approves, the same hand move is allowed and recorded as mlcp's: nothing
    else moves, the serving follows;
(b) during the admin's freeze window, with the lead's approval given, her
    promotion is held; moving production to 2 by hand, or to 3, does not keep
    it there: the loop moves it back to 1 through the window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

from tests.integration.attacks import approvals, gitattack
from tests.integration.mlflow_rest import MlflowRest

pytestmark = pytest.mark.integration

POLICY = "policies/access.yaml"
FREEZE = """  freezeWindows:
    - name: always
      cron: "* * * * *"
      duration: 1h
"""
SERVICE = "detector-production"


def _hand_move(op: gitattack.Operator, version: str) -> None:
    """What anyone with EDIT on the model may do."""
    MlflowRest(op.mlflow_uri).post(
        "registered-models/alias", name=op.repo.repo.model, alias="production", version=version
    )


def _promote_two(op: gitattack.Operator) -> None:
    """Alice's commit: production follows staging, now at version 2 (the spec changes, so approvals must be new)."""
    approvals.move_staging(op, 2)
    op.repo.edit(f"tenants/{op.repo.repo.vision}/{approvals.PROMOTION}", "maxReplicas: 3", "maxReplicas: 4")
    op.repo.commit("vision: ship version 2", "alice")


def _served(op: gitattack.Operator, k8s_admin: client.ApiClient) -> str:
    found = cast(
        dict[str, Any],
        client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", op.repo.repo.vision, "inferenceservices", SERVICE
        ),
    )
    return str(found["spec"]["predictor"]["model"]["storageUri"])


def _location(op: gitattack.Operator, version: int) -> str:
    return f"s3://{op.repo.repo.prefix}-models/{version}/model"


def _recorded(op: gitattack.Operator, audit: Path) -> str | None:
    """The version mlcp's own record says it last set production to (`mlcp promotions history`)."""
    history = op.cli(
        "promotions", "history", op.repo.repo.model, "--alias", "production", "-o", "json", "--audit-log", str(audit)
    )
    assert history.exit_code == 0, history.output
    return cast(str | None, json.loads(history.stdout)["registry"]["production"]["recorded"])


def test_a_denied_promotion_carried_out_by_hand_is_moved_back_until_approved(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    model = op.repo.repo.model
    assert _served(op, k8s_admin) == _location(op, 1)
    _promote_two(op)
    _hand_move(op, "2")

    shown = gitattack.said(op.plan())
    assert f"drift: {model}@production was moved outside mlcp to version 2; mlcp had moved it to version 1" in shown
    assert (
        "moves it back to version 1, the version mlcp last set: the declared move from version 1 to version 2, "
        "where it already is, may not go ahead (denied (approvals): 0 of 1 approval(s)"
    ) in shown, shown
    assert "allowed by restore for alice@example.com" in shown, shown

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    assert approvals.production(op) == "1", gitattack.explain(result)
    assert _served(op, k8s_admin) == _location(op, 1), "the serving never followed the hand move"
    [restored] = [r for r in approvals.promotion_records(op, audit, "allow") if r["result"] == "applied"]
    assert restored["rule"] == "restore" and restored["version"] == "1", restored
    assert str(restored["reason"]).startswith(f"drift healed: {model}@production was moved outside mlcp to version 2")
    assert "0 of 1 approval(s)" in str(restored["reason"]), restored
    assert _recorded(op, audit) == "1"
    assert op.verified(audit)

    _hand_move(op, "2")  # again, and the loop this time: it never settles with production at 2
    loop = tmp_path / "loop.jsonl"
    code, log = op.reconcile_once(loop)
    assert approvals.production(op) == "1", log[-3000:]
    assert [r["rule"] for r in approvals.promotion_records(op, loop, "allow") if r["result"] == "applied"] == [
        "restore"
    ]
    code, log = op.reconcile_once(loop)
    assert code == 1 and "denied (approvals)" in log, "still not converged: the promotion is denied"
    assert approvals.production(op) == "1"

    _hand_move(op, "2")
    assert approvals.approve(op, "lead").exit_code == 0  # now the promotion is allowed: the hand move is adopted
    shown = gitattack.said(op.plan())
    assert f"moves {model}@production from version 1 to version 2, where it already is" in shown, shown
    assert "moves it back to version" not in shown and "blocked:" not in shown, shown
    approved = tmp_path / "approved.jsonl"
    result = op.apply(approved)
    assert result.exit_code == 0, gitattack.explain(result)
    assert approvals.production(op) == "2"
    assert _served(op, k8s_admin) == _location(op, 2), "the serving follows the approved promotion"
    [adopted] = [r for r in approvals.promotion_records(op, approved, "allow") if r["result"] == "applied"]
    assert adopted["version"] == "2" and adopted["approvers"] == ["ml-lead@example.com"], adopted
    assert _recorded(op, approved) == "2", "recorded as mlcp's: a later hand move off 2 is drift"


def test_a_freeze_window_does_not_keep_a_hand_move_to_a_held_promotion(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    model = op.repo.repo.model
    policy = op.repo.root / POLICY
    policy.write_text(policy.read_text() + FREEZE)
    op.repo.commit("platform: change freeze", "admin")
    assert op.apply(tmp_path / "rules.jsonl").exit_code == 0
    _promote_two(op)
    assert approvals.approve(op, "lead").exit_code == 0  # approved, but held by the window
    _hand_move(op, "2")

    shown = gitattack.said(op.plan())
    assert "moves it back to version 1, the version mlcp last set: the declared move from version 1" in shown
    assert "may not go ahead (held by window always until" in shown, shown

    for hand in ("2", "3"):  # to the held target, or anywhere else off mlcp's last version
        _hand_move(op, hand)
        audit = tmp_path / f"loop-{hand}.jsonl"
        _, log = op.reconcile_once(audit)
        assert approvals.production(op) == "1", f"moved back through the window from {hand}: {log[-3000:]}"
        [restored] = [r for r in approvals.promotion_records(op, audit, "allow") if r["result"] == "applied"]
        assert restored["rule"] == "restore", restored
        assert f"{model}@production was moved outside mlcp to version {hand}" in str(restored["reason"])
        assert "held by window always until" in str(restored["reason"]), restored
    assert _served(op, k8s_admin) == _location(op, 1)
