"""Drift on an object whose spec was last written by someone who has since lost their rights.

Bob, a member of vision, changes its pipeline's image; it is applied. The admin then removes him from vision.
Someone with edit rights in vision's namespace swaps the live WorkflowTemplate's image for their own. The heal
puts back what was applied, yet it was judged as a new change by the file's last writer under today's rules
("no rule lets bob update Pipeline"): the swapped image stayed for good, and vision backed off blaming Bob. Any
tightening of the policy made drift on the kinds it touched unhealable the same way.

A change that asks for nothing new is now put back without asking its last writers again (rule `heal`, audited
`drift healed:`): vision converged to a revision (its own lane recorded it) and no commit since touched its
folder, `policies/` or `mlcp.yaml`, so its desired objects are exactly those applied then. The attacker's side:
Bob, no longer a member, commits a new image and swaps the live one as well, so that the change looks like a
heal; his commit touched vision's folder, so it is judged as his change and denied, and his image never goes
out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane.audit import JsonlStore
from reconciler.gitsync import GitSource
from reconciler.passes import Reconciler, Settings
from tests.integration.attacks import gitattack
from tests.integration.attacks.gitattack import OLD_IMAGE, PIPELINE, Operator

pytestmark = pytest.mark.integration

BOB_IMAGE = "ghcr.io/example/vision-data:1.4.0"
SWAPPED = "ghcr.io/evil/miner:1"
BOB_AGAIN = "ghcr.io/example/vision-data:6.6.6"


def _swap_live_image(k8s_admin: client.ApiClient, namespace: str, image: str) -> None:
    """A hand edit of the live WorkflowTemplate (as `kubectl edit` makes it), by someone with edit rights there."""
    api = client.CustomObjectsApi(k8s_admin)
    live: dict[str, Any] = api.get_namespaced_custom_object(
        "argoproj.io", "v1alpha1", namespace, "workflowtemplates", "train-detector"
    )
    for template in live["spec"]["templates"]:
        if "container" in template:
            template["container"]["image"] = image
    api.replace_namespaced_custom_object(
        "argoproj.io", "v1alpha1", namespace, "workflowtemplates", "train-detector", live, field_manager="kubectl-edit"
    )


def _bob_applied_then_left(op: Operator, rec: Reconciler) -> None:
    vision = op.repo.repo.vision
    assert rec.run_pass().error is None
    op.repo.edit(f"tenants/{vision}/{PIPELINE}", OLD_IMAGE, BOB_IMAGE)
    op.repo.commit("vision: data 1.4.0", "bob")
    applied = rec.run_pass()
    assert applied.error is None and not applied.failed, (applied.error, applied.failed)
    op.repo.edit(f"tenants/{vision}/tenant.yaml", "    - name: bob@example.com\n      role: edit\n", "")
    op.repo.edit(f"tenants/{vision}/notebooks/explore.yaml", "    - bob@example.com\n", "")
    op.repo.commit("vision: bob moved to another team", "admin")
    for _ in range(2):
        result = rec.run_pass()
        assert result.error is None and vision not in result.failed, (result.error, result.failed)


def _loop(op: Operator, tmp_path: Path) -> Reconciler:
    return Reconciler(
        GitSource(str(op.repo.root), "main", tmp_path / "loop"),
        # the cluster alone: MLflow is shared by the session's tests, whose objects the loop would take for its own
        Settings(op.repo.repo.targets(op.kubeconfig, trusted=False), events=False),
        JsonlStore(tmp_path / "loop.jsonl"),
    )


def test_drift_is_healed_after_the_last_writer_left_the_tenant(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision = op.repo.repo.vision
    rec = _loop(op, tmp_path)
    try:
        _bob_applied_then_left(op, rec)
        _swap_live_image(k8s_admin, vision, SWAPPED)
        healed = rec.run_pass()
    finally:
        rec.close()
    assert healed.error is None and vision not in healed.failed, (healed.error, healed.failed)
    assert gitattack.step_images(k8s_admin, vision, "train-detector")[0] == BOB_IMAGE, "the swapped image stayed"
    [record] = [r for r in op.records(tmp_path / "loop.jsonl") if r["target"]["kind"] == "WorkflowTemplate"][-1:]
    assert record["rule"] == "heal" and record["decision"] == "allow", record
    assert record["reason"].startswith("drift healed:") and "bob@example.com" in record["reason"], record["reason"]
    assert op.verified(tmp_path / "loop.jsonl")


def test_a_new_change_dressed_as_drift_is_judged_as_its_writers(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision = op.repo.repo.vision
    rec = _loop(op, tmp_path)
    try:
        _bob_applied_then_left(op, rec)
        op.repo.edit(f"tenants/{vision}/{PIPELINE}", BOB_IMAGE, BOB_AGAIN)
        op.repo.commit("vision: data 6.6.6", "bob")
        _swap_live_image(k8s_admin, vision, SWAPPED)
        results = [rec.run_pass() for _ in range(2)]
    finally:
        rec.close()
    assert "denied" in results[0].failed.get(vision, ""), results[0].failed
    assert gitattack.step_images(k8s_admin, vision, "train-detector")[0] != BOB_AGAIN, "bob's new image went out"
    denied = [r for r in op.records(tmp_path / "loop.jsonl", "--decision", "deny") if r["rule"] == "heal"]
    allowed = [r for r in op.records(tmp_path / "loop.jsonl", "--decision", "allow") if r["rule"] == "heal"]
    assert not denied and not allowed, "no change of a tenant with a commit since it converged is a heal"
