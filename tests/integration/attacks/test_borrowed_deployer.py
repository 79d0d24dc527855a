"""Alice, vision's owner (no platform admin), moves vision into nlp's namespace to write as nlp's deployer.

mlcp writes each tenant's workloads impersonating that tenant's deployer, bound only in the tenant's namespace, so
the API server itself keeps a tenant's writes in its namespace, beneath the authorizer. But the namespace that
picked the deployer came from the revision under review: Alice's commit setting vision's `namespace:` to nlp's had
vision's pipeline written as nlp's deployer, and the API server let it into nlp's namespace. Only the authorizer's
check (`tenant-namespace`, `namespace-ownership`) stood in front, and the layer meant to hold when that check fails
was chosen by the data it confines.

Alice acts as herself, through a signed commit; the operator's real `mlcp apply` refuses her revision. Then the
same revision is applied with enforcement out of the way (the policy not enforced and every refusal before apply
dropped, as a bug in either would): her pipeline is written as vision's deployer, the base's namespace's, and the
real API server refuses it in nlp's namespace. Nothing of vision's lands there.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from kubernetes import client

from controlplane.rendering.context import deployer_account
from reconciler import connecting, engine
from reconciler.applying import apply_plan, unchecked
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.kubernetes import KubernetesBackend
from tests.integration.attacks import gitattack

pytestmark = pytest.mark.integration
PIPELINE = "train-detector"
RENDERED = {"WorkflowTemplate": "workflowtemplates", "CronWorkflow": "cronworkflows"}
"""What vision's pipeline renders, and the resources they are."""


@pytest.fixture
def op(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str) -> gitattack.Operator:
    return gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)


def _pipeline_in(k8s_admin: client.ApiClient, namespace: str, plural: str = "workflowtemplates") -> bool:
    try:
        client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
            "argoproj.io", "v1alpha1", namespace, plural, PIPELINE
        )
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def test_a_tenant_moved_into_another_tenants_namespace_is_still_written_as_its_own_deployer(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    vision, nlp = op.repo.repo.vision, op.repo.repo.nlp
    anchor = "  deletionProtection: true\n"
    op.repo.edit(f"tenants/{vision}/tenant.yaml", anchor, f"{anchor}  namespace: {nlp}\n")
    op.repo.commit("vision: move in with nlp", "alice")

    result = op.apply(tmp_path / "audit.jsonl", None, "--detailed-exitcode")
    assert result.exit_code == 2, gitattack.explain(result)  # held back: her changes were skipped
    assert not _pipeline_in(k8s_admin, nlp), "the operator's apply wrote vision's pipeline into nlp's namespace"

    # enforcement out of the way: the plan mlcp apply makes (judged by the last applied revision), not enforced,
    # every refusal before apply dropped; only vision's workloads in nlp's namespace, as a bug would let through
    targets = engine.Targets(
        str(op.kubeconfig), tracking_uri=op.mlflow_uri, controller_namespace=op.repo.repo.system_ns
    )
    desired = engine.load_desired(op.repo.root)
    backends = connecting.connect(desired.repo, targets)
    plan, _ = engine.make_plan(desired, backends, enforce_policy=False, targets=targets)
    moved = [
        replace(c, blocked=None)
        for c in plan.changes
        if c.tenant == vision and c.ref.namespace == nlp and c.spec is not None and c.spec.kind == "Pipeline"
    ]
    assert sorted(c.ref.kind for c in moved) == sorted(RENDERED), moved
    assert all(c.decision is not None and not c.decision.allowed for c in moved), "the authorizer refuses first"
    kube = backends["kubernetes"]
    assert isinstance(kube, KubernetesBackend)
    assert kube.impersonation is not None
    own = f"system:serviceaccount:{op.repo.repo.system_ns}:{deployer_account(vision)}"
    assert {kube.impersonation.identity_for(c) for c in moved} == {own}, "written as the base namespace's deployer"

    report = apply_plan(replace(plan, changes=tuple(moved)), {"kubernetes": kube}, ApplyOptions(), authorize=unchecked)
    assert len(report.outcomes) == len(moved)
    for outcome in report.outcomes:
        assert outcome.status is Status.failed, outcome
        message = outcome.message
        assert ("403" in message or "forbidden" in message.lower()) and deployer_account(vision) in message, message
    for plural in RENDERED.values():
        assert not _pipeline_in(k8s_admin, nlp, plural), f"the API server let vision's deployer write {plural} in nlp's"
    assert _pipeline_in(k8s_admin, vision), "vision's own pipeline stays where the base put it"
