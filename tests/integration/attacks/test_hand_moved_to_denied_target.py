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
    it there: the loop moves it back to 1 through the window;
(c) the long-running loop does so within seconds of MLflow's webhook, every
    time, while vision backs off longer after each pass its promotion fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

from devenv.processes import free_port
from tests.integration.attacks import approvals, gitattack
from tests.integration.attacks.approvals import FREEZE, POLICY
from tests.integration.mlflow_rest import MlflowRest
from tests.integration.reconcile_support import ROOT, wait_for

pytestmark = pytest.mark.integration

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
    return gitattack.version_location(op.repo.repo, version)


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
    assert "moves it back to version" not in shown, shown
    document = json.loads(op.cli("plan", str(op.repo.root), *op._targets(), "-o", "json").output)
    mine = [c for c in document["changes"] if op.repo.repo.vision in json.dumps(c["ref"]) and c["action"] != "no-op"]
    assert mine and not any(c.get("blocked") for c in mine), mine  # other tests' leftovers may be blocked
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


def test_the_loop_moves_it_back_within_seconds_while_the_tenant_backs_off(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    """A held promotion fails its tenant on every pass, and a failing tenant waits longer after each failure
    (up to minutes). Its changes wait with it, but not the move back: each hand move is undone within seconds of
    MLflow's webhook, however long the wait has grown."""
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    policy = op.repo.root / POLICY
    policy.write_text(policy.read_text() + FREEZE)
    op.repo.commit("platform: change freeze", "admin")
    assert op.apply(tmp_path / "rules.jsonl").exit_code == 0
    _promote_two(op)
    assert approvals.approve(op, "lead").exit_code == 0

    port = free_port()
    audit = tmp_path / "loop.jsonl"
    env = {**os.environ, **{k: v for k, v in op.env.items() if v is not None}}
    argv = [
        "reconcile", "--repo", str(op.repo.root), "--interval", "600s", "--no-leader-elect", "--no-watch",
        "--audit-log", str(audit), "--kubeconfig", str(kubeconfig), "--tracking-uri", mlflow_uri,
        "--workdir", str(tmp_path / "work"), "--listen", f"127.0.0.1:{port}",
        "--registry-webhook-url", f"http://127.0.0.1:{port}/registry-webhook",
    ]  # fmt: skip
    log = tmp_path / "loop.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controlplane", *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    rest = MlflowRest(mlflow_uri)
    try:
        wait_for(lambda: "tenant failed; backing off" in log.read_text(), 120, "the first pass to hold the promotion")
        assert "registered MLflow webhook" in log.read_text(), log.read_text()[-3000:]
        time.sleep(2)  # MLflow's webhook cache (1 s here) has the hook
        for done in range(1, 6):
            _hand_move(op, "2")
            moved = time.monotonic()
            wait_for(lambda: approvals.production(op) == "1", 60, "a pass to move production back")
            took = time.monotonic() - moved
            assert took < 5.0, f"moved back {took:.1f}s after the hand move: {log.read_text()[-3000:]}"
            # The pass reads the alias back after moving it: a hand move before that read is a concurrent move,
            # recorded as a conflict, not a restore (and moved back by the next pass). So the next hand move waits
            # for this pass's outcome, as a person would not race the loop's own read.
            wait_for(lambda done=done: _restores(op, audit) >= done, 60, f"restore {done} to be recorded")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        _drop_webhook(rest, f"mlcp-{op.repo.repo.system_ns}")

    waits = [json.loads(line) for line in log.read_text().splitlines() if "backing off" in line]
    assert len(waits) >= 5, "the tenant failed on every pass: its promotion is held"
    restored = [r for r in approvals.promotion_records(op, audit, "allow") if r["result"] == "applied"]
    assert len(restored) == 5 and all(r["rule"] == "restore" and r["version"] == "1" for r in restored), restored
    assert approvals.production(op) == "1"


def _restores(op: gitattack.Operator, audit: Path) -> int:
    """The loop's applied restores recorded so far (0 while its log cannot be read: a line half written)."""
    listed = op.cli("audit", "list", "-o", "json", "--audit-log", str(audit), "--decision", "allow")
    if listed.exit_code != 0:
        return 0
    mine = f"{op.repo.repo.model}@"
    return sum(
        1
        for r in json.loads(listed.stdout)
        if r["target"]["kind"] == "ModelAlias"
        and str(r["target"]["name"]).startswith(mine)
        and r["result"] == "applied"
    )


def _drop_webhook(rest: MlflowRest, name: str) -> None:
    for hook in rest.get("webhooks", max_results=1000).get("webhooks") or []:
        if hook.get("name") == name:
            rest.call("DELETE", f"webhooks/{hook['webhook_id']}")
