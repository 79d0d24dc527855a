"""Freeze windows and quarantined versions are rules of the trusted base, and hold against the revision under review.

The platform admin declares a change freeze (always open here: every minute,
for an hour) and quarantines a version. Alice, owner of vision, then edits the
window away and promotes in the same commit: the window she removed still
holds her promotion, because the base judges it; only the ML lead's emergency
override (`mlcp approve --override`) lets it through. A promotion whose
`fromAlias` resolves to a quarantined version, by the policy's list or by the
registry's `mlcp.dev/quarantined` tag, is refused at plan time.
"""

from __future__ import annotations

import json
from pathlib import Path

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
      override:
        required: 1
        approvers:
          groups: [model-approvers]
  quarantine:
    - model: MODEL
      versions: [3]
      reason: trained on leaked data
"""


def _admin_rules(op: gitattack.Operator, tmp_path: Path) -> None:
    """The admin's freeze and quarantine, committed and applied, so they are the trusted base's."""
    policy = op.repo.root / POLICY
    policy.write_text(policy.read_text() + FREEZE.replace("MODEL", op.repo.repo.model))
    op.repo.commit("platform: change freeze, quarantine version 3", "admin")
    result = op.apply(tmp_path / "rules.jsonl")
    assert result.exit_code == 0, gitattack.explain(result)


def test_a_freeze_edited_away_in_the_same_commit_still_holds_until_overridden(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    _admin_rules(op, tmp_path)
    rel = f"tenants/{op.repo.repo.vision}/{approvals.PROMOTION}"
    approvals.move_staging(op, 2)
    op.repo.edit(POLICY, "duration: 1h", "duration: 1m")
    op.repo.edit(POLICY, 'cron: "* * * * *"', 'cron: "0 0 1 1 *"')
    op.repo.edit(rel, "maxReplicas: 3", "maxReplicas: 4")
    op.repo.commit("vision: ship version 2 (and no freeze)", "alice")
    assert approvals.approve(op, "lead").exit_code == 0, "approved, but the window still holds it"

    audit = tmp_path / "held.jsonl"
    result = op.apply(audit)
    shown = gitattack.said(result)
    assert "held by window always until" in shown, result.output
    assert "override: 0 of 1 approval(s)" in shown
    assert approvals.production(op) == "1", "production did not move during the freeze"
    held = [r for r in approvals.promotion_records(op, audit, "deny") if r["rule"] == "freeze-window"]
    assert held and held[0]["actors"] == ["alice@example.com"]

    alice = approvals.approve(op, "alice", "--override")
    assert alice.exit_code == 0, alice.output
    assert "authors cannot approve their own change" in gitattack.said(op.plan())
    override = approvals.approve(op, "lead", "--override")
    assert override.exit_code == 0, override.output
    result = op.apply(audit)
    assert approvals.production(op) == "2", gitattack.explain(result)

    history = op.cli(
        "promotions", "history", op.repo.repo.model, "--alias", "production", "-o", "json", "--audit-log", str(audit)
    )
    assert history.exit_code == 0, history.output
    found = json.loads(history.stdout)
    moves = [(m["previousVersion"], m["version"], m["outcome"], m["rule"]) for m in found["moves"]]
    assert moves[0] == ("1", "2", "denied", "freeze-window") and moves[-1][:3] == ("1", "2", "applied")
    last = found["moves"][-1]
    assert last["approvers"] == ["ml-lead@example.com"] and last["authors"] == ["alice@example.com"]
    assert [g["metric"] for g in last["gates"]] == ["val_map", "latency_p95_ms"] and all(
        g["passed"] for g in last["gates"]
    )
    assert found["registry"]["production"]["version"] == "2" and found["disagreements"] == [], found


def test_a_quarantined_version_is_never_promoted(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri, versions=4)
    policy = op.repo.root / POLICY
    quarantine = FREEZE.split("  quarantine:\n", 1)[1].replace("MODEL", op.repo.repo.model)
    policy.write_text(policy.read_text() + "  quarantine:\n" + quarantine)
    op.repo.commit("platform: quarantine version 3", "admin")
    assert op.apply(tmp_path / "rules.jsonl").exit_code == 0

    approvals.move_staging(op, 3)
    assert approvals.approve(op, "lead").exit_code == 0
    shown = gitattack.said(op.plan())
    assert f"version 3 of '{op.repo.repo.model}' is quarantined by the policy (trained on leaked data)" in shown
    assert "`fromAlias: staging` resolves to it" in shown
    op.apply(tmp_path / "refused.jsonl")
    assert approvals.production(op) == "1"

    rest = MlflowRest(mlflow_uri)
    rest.post(
        "model-versions/set-tag", name=op.repo.repo.model, version="4", key="mlcp.dev/quarantined", value="bias audit"
    )
    approvals.move_staging(op, 4)
    assert approvals.approve(op, "lead").exit_code == 0
    shown = gitattack.said(op.plan())
    assert "is quarantined (registry tag mlcp.dev/quarantined: bias audit)" in shown, shown
    op.apply(tmp_path / "tagged.jsonl")
    assert approvals.production(op) == "1"


def _serving(op: gitattack.Operator, k8s_admin: client.ApiClient) -> bool:
    try:
        client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", op.repo.repo.vision, "inferenceservices", "detector-production"
        )
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


@pytest.mark.parametrize("how", ["delete", "rename"])
def test_production_is_not_taken_away_during_a_freeze(
    how: str, tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    """Only moves were held: Alice deleted the promotion (or pointed it at another alias, leaving production to be
    deleted) during the freeze, and the operator's `mlcp apply --prune` removed production and its serving."""
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    _admin_rules(op, tmp_path)
    assert _serving(op, k8s_admin)
    rel = f"tenants/{op.repo.repo.vision}/{approvals.PROMOTION}"
    if how == "delete":
        (op.repo.root / rel).unlink()
    else:
        op.repo.edit(rel, "alias: production", "alias: canary")
    op.repo.commit("vision: production is retired", "alice")

    audit = tmp_path / "retired.jsonl"
    result = op.apply(audit, None, "--prune")
    shown = gitattack.said(result)
    assert "held by window always until" in shown, result.output
    assert approvals.production(op) == "1", "production was removed during the freeze"
    assert _serving(op, k8s_admin), "its serving was deleted during the freeze"
    held = [r for r in op.records(audit, "--decision", "deny") if r["rule"] == "freeze-window"]
    assert held and held[0]["actors"] == ["alice@example.com"], held
