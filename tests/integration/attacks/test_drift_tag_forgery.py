"""The alias tags on a model are claims: forging them neither frees a held promotion nor holds back a heal.

A tenant member with EDIT on her model can write its tags, including the
`mlcp.dev/alias.production.version` mlcp writes on every move. Drift (a hand
move, moved back without waiting for a freeze window) is decided from mlcp's
own inventory record of the version it set, on an experiment she cannot
write. Against the real MLflow and API server, through `mlcp plan`, `mlcp
apply` and the real `mlcp reconcile --once`, while the admin's freeze window is
open:

(a) Alice commits a promotion to version 2 (held by the window), then tags the
    model as if mlcp had moved production to 2: still held, nothing moves, and
    the audit log records the hold;
(b) a member moves production by hand and retags it to match: still drift,
    healed by the loop through the freeze; with mlcp's record stripped of its
    version (as an older mlcp wrote it) drift is unknown and the move back is
    held: fail safe, and the plan says why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.backends.mlflow_inventory import store_name
from tests.integration.attacks import approvals, gitattack
from tests.integration.attacks.approvals import FREEZE, POLICY
from tests.integration.mlflow_rest import MlflowRest

pytestmark = pytest.mark.integration

TAG = "mlcp.dev/alias.production.version"


def _frozen(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str) -> gitattack.Operator:
    """Production at version 1, moved there by mlcp; then the admin's always-open window, applied."""
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    policy = op.repo.root / POLICY
    policy.write_text(policy.read_text() + FREEZE)
    op.repo.commit("platform: change freeze", "admin")
    assert op.apply(tmp_path / "rules.jsonl").exit_code == 0
    return op


def _tag(op: gitattack.Operator, key: str, value: str) -> None:
    """What anyone with EDIT on the model may do (MLflow's UI, REST or SDK)."""
    MlflowRest(op.mlflow_uri).post("registered-models/set-tag", name=op.repo.repo.model, key=key, value=value)


def _hand_move(op: gitattack.Operator, version: str) -> None:
    MlflowRest(op.mlflow_uri).post(
        "registered-models/alias", name=op.repo.repo.model, alias="production", version=version
    )


def test_a_held_promotion_tagged_as_mlcps_last_move_stays_held(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = _frozen(tmp_path, prefix, kubeconfig, mlflow_uri)
    approvals.move_staging(op, 2)
    op.repo.edit(f"tenants/{op.repo.repo.vision}/{approvals.PROMOTION}", "maxReplicas: 3", "maxReplicas: 4")
    op.repo.commit("vision: ship version 2", "alice")
    assert approvals.approve(op, "lead").exit_code == 0
    _tag(op, TAG, "2")  # "mlcp had moved it to 2": the move to 2 would be a heal, free of the window
    _tag(op, "mlcp.dev/alias.production.by", "ml-lead@example.com")

    shown = gitattack.said(op.plan())
    assert "held by window always until" in shown, shown
    assert "drift:" not in shown and "heals drift" not in shown, shown
    assert f"the model's tag {TAG}=2 disagrees with mlcp's record, which says version 1" in shown, shown
    assert "unverified claim" in shown

    audit = tmp_path / "held.jsonl"
    assert "held by window always until" in gitattack.said(op.apply(audit))
    code, log = op.reconcile_once(audit)
    assert code == 1 and "denied: held by window always until" in log, log[-3000:]  # not converged: held
    assert approvals.production(op) == "1", "production did not move during the freeze"
    held = [r for r in approvals.promotion_records(op, audit, "deny") if r["rule"] == "freeze-window"]
    assert len(held) >= 2 and all(r["actors"] == ["alice@example.com"] for r in held), held
    assert not [r for r in approvals.promotion_records(op, audit, "allow") if r["result"] == "applied"]
    assert op.verified(audit)

    first = tmp_path / "approved-first.jsonl"  # the log of mlcp's move of production to 1
    history = op.cli(
        "promotions", "history", op.repo.repo.model, "--alias", "production", "-o", "json", "--audit-log", str(first)
    )
    assert history.exit_code == 0, history.output
    found = json.loads(history.stdout)
    assert found["registry"]["production"]["recorded"] == "1" and found["registry"]["production"]["version"] == "1"
    assert found["disagreements"] == [
        "production: the model's tag claims mlcp last moved it to version 2, the audit log says 1; the tag is "
        "unverified (anyone with EDIT on the model can write it)"
    ], found


def test_a_retagged_hand_move_is_still_drift_and_healed_through_the_freeze(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = _frozen(tmp_path, prefix, kubeconfig, mlflow_uri)
    model = op.repo.repo.model
    _hand_move(op, "2")
    _tag(op, TAG, "2")  # so that moving it back looks like an ordinary move, which the window would hold

    shown = gitattack.said(op.plan())
    assert f"drift: {model}@production was moved outside mlcp to version 2; mlcp had moved it to version 1" in shown
    assert "held by window" not in shown, shown
    assert f"{TAG}=2 disagrees with mlcp's record, which says version 1" in shown

    audit = tmp_path / "loop.jsonl"
    _, log = op.reconcile_once(audit)  # the session's MLflow holds other tests' objects: their tenants may fail
    [done] = [line for line in map(json.loads, log.splitlines()) if line.get("msg") == "pass done"]
    assert op.repo.repo.vision not in done["failedTenants"], log[-3000:]
    assert approvals.production(op) == "1", "the loop moved it back, window or not"
    [healed] = [r for r in approvals.promotion_records(op, audit, "allow") if r["result"] == "applied"]
    assert healed["reason"].startswith("drift healed:") and healed["version"] == "1"

    _strip_recorded_version(op)  # as an older mlcp recorded it: which version mlcp set is unknown
    _hand_move(op, "2")
    shown = gitattack.said(op.plan())
    assert "does not say which version mlcp last set" in shown and "drift is unknown" in shown, shown
    assert "held by window always until" in shown
    op.apply(tmp_path / "unknown.jsonl")
    assert approvals.production(op) == "2", "without mlcp's record of it, the move back waits for the window"


def _strip_recorded_version(op: gitattack.Operator) -> None:
    """Rewrite the alias's record in mlcp's store without `set` (the operator's, or an older mlcp's, doing)."""
    rest = MlflowRest(op.mlflow_uri)
    name = store_name(op.repo.repo.system_ns)  # the operator's installation's store
    store = rest.call("GET", "experiments/get-by-name", {"experiment_name": name})["experiment"]
    alias = f"{op.repo.repo.model}@production"
    for tag in store.get("tags") or []:
        value = json.loads(tag["value"]) if tag["key"].startswith("mlcp.dev/record.") else {}
        if value.get("kind") == "ModelAlias" and value.get("name") == alias:
            assert value.pop("set")["version"] == "1", "the heal recorded the version mlcp set"
            text = json.dumps(value, sort_keys=True, separators=(",", ":"))
            rest.post(
                "experiments/set-experiment-tag", experiment_id=store["experiment_id"], key=tag["key"], value=text
            )
            return
    raise AssertionError(f"no record of {alias} in {name}")
