"""A newcomer folder named as an existing tenant's model takes the model's name, and the tenant is refused.

A registered model belongs to the tenant with the longest name it starts with (controlplane/registry_names.py),
and every folder under tenants/ counted as an owner, approved or not. Carol, who may create nothing, commits
`tenants/<vision>-detector/tenant.yaml`: vision's model `<vision>-detector` became her folder's, vision's own
ModelPromotion was the invalid spec, `mlcp apply` refused vision's change and the loop set vision aside, backing
off, with one file; her own promotion of the model passed validation. Now the trusted base decides first: a
name its tenants own among themselves stays theirs, and the newcomer's claim is the error, at its file, naming
the owner and the base; so is the newcomer's Tenant while a tenant of the base promotes a model its name would
take once applied (an admin approving it gave it the model). Through the real `mlcp apply` and the loop's real
pass, against the real servers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack
from tests.integration.mlflow_rest import MlflowRest

pytestmark = pytest.mark.integration

NEW_IMAGE = "ghcr.io/example/vision-data:1.4.0"
SQUAT = "promotions/production.yaml"
VISION_PROMOTION = "promotions/detector-production.yaml"


def _operator(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str) -> gitattack.Operator:
    """vision applied once, its model registered (production at version 1), judged by the applied revision."""
    op = gitattack.Operator(gitattack.signed_repo(tmp_path, prefix), kubeconfig, mlflow_uri, tmp_path)
    gitattack.register_model(MlflowRest(mlflow_uri), op.repo.repo)
    op.first_apply()
    return op


def _squat(op: gitattack.Operator, promote: bool) -> str:
    """Carol's tenant folder named as vision's model (with a promotion of that model, when `promote`), then
    Alice's change to vision; the folder's name."""
    squatter = op.repo.repo.model
    op.repo.write(
        f"tenants/{squatter}/tenant.yaml",
        "apiVersion: mlcp.dev/v1alpha1\nkind: Tenant\nmetadata:\n"
        f"  name: {squatter}\nspec:\n  owners: [carol@example.com]\n",
    )
    if promote:
        op.repo.write(
            f"tenants/{squatter}/{SQUAT}",
            "apiVersion: mlcp.dev/v1alpha1\nkind: ModelPromotion\nmetadata:\n  name: production\n"
            f"spec:\n  model: {squatter}\n  alias: production\n  version: 2\n",
        )
    op.repo.commit("a team of my own", "carol")
    op.repo.edit(f"tenants/{op.repo.repo.vision}/{gitattack.PIPELINE}", gitattack.OLD_IMAGE, NEW_IMAGE)
    op.repo.commit("vision: new data image", "alice")
    return squatter


def test_mlcp_apply_blames_the_newcomer_folder_not_the_tenant(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = _operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision, rest = op.repo.repo.vision, MlflowRest(mlflow_uri)
    squatter = _squat(op, promote=False)

    result = op.apply(tmp_path / "apply.jsonl")
    shown = gitattack.said(result)
    assert result.exit_code == 1, shown  # mlcp apply refuses a repo with any error: this one is the newcomer's
    assert f"tenants/{squatter}/tenant.yaml:4:9: error: tenant {squatter!r} would take registered model" in shown
    assert f"from tenant {vision!r}, which promotes it at tenants/{vision}/{VISION_PROMOTION}:7:10" in shown
    assert f"tenants/{vision}/{VISION_PROMOTION}:7:10: error" not in shown, "vision's promotion is not invalid"
    assert gitattack.alias(rest, op.repo.repo.model) == "1"


def test_mlcp_apply_blames_the_newcomers_claim_of_the_model(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = _operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision, rest, base = op.repo.repo.vision, MlflowRest(mlflow_uri), op.repo.head()
    squatter = _squat(op, promote=True)

    result = op.apply(tmp_path / "apply.jsonl")
    shown = gitattack.said(result)
    assert result.exit_code == 1, shown
    assert f"tenants/{squatter}/{SQUAT}:" in shown, shown
    assert f"belongs to tenant {vision!r} of the trusted base {base[:12]}, not to tenant {squatter!r}" in shown
    assert f"tenants/{vision}/{VISION_PROMOTION}:7:10: error" not in shown, "vision's own specs are not blamed"
    assert gitattack.alias(rest, op.repo.repo.model) == "1", "vision's production alias did not move"


def test_the_loop_sets_the_newcomer_aside_and_vision_converges(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = _operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision, rest = op.repo.repo.vision, MlflowRest(mlflow_uri)
    squatter = _squat(op, promote=True)

    audit = tmp_path / "loop.jsonl"
    code, log = op.reconcile_once(audit)
    assert code == 1, log[-3000:]  # the newcomer did not converge
    assert NEW_IMAGE in gitattack.step_images(k8s_admin, vision, "train-detector"), log[-3000:]
    assert gitattack.alias(rest, op.repo.repo.model) == "1", "vision's production alias did not move"
    # the session's shared MLflow holds other tests' objects, which this repo does not declare: theirs are
    # refused too (prune is off), so only this test's tenants are looked at
    denied = [r for r in op.records(audit, "--decision", "deny") if (r["tenant"] or "").startswith(prefix)]
    assert {r["tenant"] for r in denied} == {squatter}, "the loop sets the newcomer aside, never vision"
    assert any(f"belongs to tenant {vision!r} of the trusted base" in r.get("reason", "") for r in denied), denied
    assert any(f"would take registered model {op.repo.repo.model!r}" in r.get("reason", "") for r in denied)
    assert op.verified(audit)
