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

Nor does a member of the tenant itself get more from mlcp's own identity than the trusted Tenant gives him: Bob,
an `edit` member of vision, adds himself to its owners. His commit is refused; with the same bypass, the RoleBinding
binding him to `mlcp-tenant-owner` lands in vision's own namespace, where only the location was checked. It is
refused before anything is sent, as it binds someone the trusted base does not give that role.

Her tenant's platform objects (its Namespace, RoleBindings binding her and her people to the tenant roles, quota,
LimitRange, NetworkPolicy, accounts) have no deployer beneath them: mlcp writes them as itself, which the shipped
admission policy lets into every tenant's namespace. With the same bypass they would rebind nlp's namespace to
vision's people and replace its quota; they are refused before anything is sent, because the trusted base gives
vision its own namespace, and the outcome says so.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from kubernetes import client

from controlplane.labels import TENANT_LABEL
from controlplane.plans import Action, Change, Plan
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
PLATFORM = {"Namespace", "RoleBinding", "ResourceQuota", "LimitRange", "NetworkPolicy"}
"""What vision's Tenant and Quota render that must not land in (or be) nlp's namespace, at least."""


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


def _moved_and_bypassed(
    op: gitattack.Operator, k8s_admin: client.ApiClient, audit: Path
) -> tuple[Plan, KubernetesBackend]:
    """Alice's signed commit moving vision into nlp's namespace, refused by the operator's real `mlcp apply`; then
    the plan it makes (judged by the last applied revision) with the policy not enforced, and its backend."""
    vision, nlp = op.repo.repo.vision, op.repo.repo.nlp
    anchor = "  deletionProtection: true\n"
    op.repo.edit(f"tenants/{vision}/tenant.yaml", anchor, f"{anchor}  namespace: {nlp}\n")
    op.repo.commit("vision: move in with nlp", "alice")

    result = op.apply(audit, None, "--detailed-exitcode")
    assert result.exit_code == 2, gitattack.explain(result)  # held back: her changes were skipped
    assert not _pipeline_in(k8s_admin, nlp), "the operator's apply wrote vision's pipeline into nlp's namespace"
    return _unenforced(op)


def _unenforced(op: gitattack.Operator) -> tuple[Plan, KubernetesBackend]:
    """The plan of the repo's head judged by the last applied revision with the policy not enforced, and its
    Kubernetes backend (entrusted with that plan's allowed Tenant changes)."""
    targets = engine.Targets(
        str(op.kubeconfig), tracking_uri=op.mlflow_uri, controller_namespace=op.repo.repo.system_ns
    )
    desired = engine.load_desired(op.repo.root)
    backends = connecting.connect(desired.repo, targets)
    plan, _ = engine.make_plan(desired, backends, enforce_policy=False, targets=targets)
    kube = backends["kubernetes"]
    assert isinstance(kube, KubernetesBackend)
    return plan, kube


def _bypassing(plan: Plan, kube: KubernetesBackend, changes: list[Change]) -> list[str]:
    """`changes` applied with every refusal before apply dropped, as a bug would let them through: the messages."""
    through = [replace(c, blocked=None) for c in changes]
    bypassed = replace(plan, changes=tuple(through))
    report = apply_plan(bypassed, {"kubernetes": kube}, ApplyOptions(), authorize=unchecked)
    assert len(report.outcomes) == len(through)
    assert all(o.status is Status.failed for o in report.outcomes), report.outcomes
    return [o.message for o in report.outcomes]


def test_a_tenant_moved_into_another_tenants_namespace_is_still_written_as_its_own_deployer(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    vision, nlp = op.repo.repo.vision, op.repo.repo.nlp
    plan, kube = _moved_and_bypassed(op, k8s_admin, tmp_path / "audit.jsonl")
    moved = [
        c for c in plan.changes
        if c.tenant == vision and c.ref.namespace == nlp and c.spec is not None and c.spec.kind == "Pipeline"
    ]  # fmt: skip
    assert sorted(c.ref.kind for c in moved) == sorted(RENDERED), moved
    assert all(c.decision is not None and not c.decision.allowed for c in moved), "the authorizer refuses first"
    own = f"system:serviceaccount:{op.repo.repo.system_ns}:{deployer_account(vision)}"
    assert {kube.impersonation.identity_for(c) for c in moved} == {own}, "written as the base namespace's deployer"

    for message in _bypassing(plan, kube, moved):
        assert ("403" in message or "forbidden" in message.lower()) and deployer_account(vision) in message, message
    for plural in RENDERED.values():
        assert not _pipeline_in(k8s_admin, nlp, plural), f"the API server let vision's deployer write {plural} in nlp's"
    assert _pipeline_in(k8s_admin, vision), "vision's own pipeline stays where the base put it"


def _tenants_objects(k8s_admin: client.ApiClient, namespace: str) -> dict[str, dict[str, str]]:
    """What the platform kinds put in `namespace`, by "Kind/name": each object's tenant label."""
    core, rbac = client.CoreV1Api(k8s_admin), client.RbacAuthorizationV1Api(k8s_admin)
    net = client.NetworkingV1Api(k8s_admin)
    listed = {
        "RoleBinding": rbac.list_namespaced_role_binding(namespace).items,
        "ResourceQuota": core.list_namespaced_resource_quota(namespace).items,
        "LimitRange": core.list_namespaced_limit_range(namespace).items,
        "NetworkPolicy": net.list_namespaced_network_policy(namespace).items,
        "ServiceAccount": core.list_namespaced_service_account(namespace).items,
    }
    return {
        f"{kind}/{item.metadata.name}": dict(item.metadata.labels or {})
        for kind, items in listed.items()
        for item in items
    }


def _subjects(k8s_admin: client.ApiClient, namespace: str) -> set[str]:
    bindings = client.RbacAuthorizationV1Api(k8s_admin).list_namespaced_role_binding(namespace).items
    return {s.name for b in bindings for s in (b.subjects or [])}


def test_a_tenant_moved_into_another_tenants_namespace_has_none_of_its_platform_objects_written_there(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    """Vision's RoleBindings (Alice and her people bound to the tenant roles), quota, LimitRange, NetworkPolicy and
    Namespace, rendered for nlp's namespace, are refused before anything is sent: mlcp's own identity could write
    them there, and nothing of vision's appears in nlp's namespace."""
    vision, nlp = op.repo.repo.vision, op.repo.repo.nlp
    before = _tenants_objects(k8s_admin, nlp)
    people = _subjects(k8s_admin, nlp)
    quota = client.CoreV1Api(k8s_admin).read_namespaced_resource_quota("compute", nlp).spec.hard
    assert "alice@example.com" not in people and gitattack.GPU not in quota
    plan, kube = _moved_and_bypassed(op, k8s_admin, tmp_path / "audit.jsonl")
    platform = [
        c for c in plan.changes
        if c.tenant == vision and c.spec is not None and c.spec.kind in ("Tenant", "Quota")
        and c.action in (Action.create, Action.update) and nlp in (c.ref.namespace, c.ref.name)
    ]  # fmt: skip
    assert {c.ref.kind for c in platform} >= PLATFORM, platform

    for message in _bypassing(plan, kube, platform):
        assert f"give tenant {vision!r} the namespace {vision!r}" in message, message
    after = _tenants_objects(k8s_admin, nlp)
    assert after == before, "vision's platform objects were written into nlp's namespace"
    assert not [name for name, labels in after.items() if labels.get(TENANT_LABEL) == vision], after
    assert _subjects(k8s_admin, nlp) == people, "vision's people were bound in nlp's namespace"
    assert client.CoreV1Api(k8s_admin).read_namespaced_resource_quota("compute", nlp).spec.hard == quota
    labels = client.CoreV1Api(k8s_admin).read_namespace(nlp).metadata.labels
    assert labels[TENANT_LABEL] == nlp, "nlp's Namespace was relabelled as vision's"
    assert "alice@example.com" in _subjects(k8s_admin, vision), "vision's own bindings stay where the base put them"


def test_the_plan_says_where_vision_s_platform_objects_would_land_and_why_they_are_not_written(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    """The operator's `mlcp plan` of Alice's move showed vision's RoleBindings, quota and Namespace in nlp's namespace
    as denied, and nothing of the layer beneath, which apply alone named. The plan, text and JSON, now names it with
    the words apply refuses with: the namespace they are in, the one vision has, and how a tenant moves."""
    vision, nlp = op.repo.repo.vision, op.repo.repo.nlp
    plan, kube = _moved_and_bypassed(op, k8s_admin, tmp_path / "audit.jsonl")
    reason = f"but the trusted base and the plan's allowed Tenant changes give tenant {vision!r} the namespace"
    how = "a tenant moves to another namespace only by a Tenant change its policy allows"

    text = gitattack.said(op.plan())
    said = (
        f"not written: RoleBinding/{nlp}/mlcp-admin of tenant {vision!r} is in namespace {nlp!r}, {reason} {vision!r}"
    )
    assert said in text, text
    assert how in text, text
    shown = op.plan(None, "--output", "json")
    assert shown.exit_code == 0, gitattack.explain(shown)
    blocked = {
        (c["ref"]["kind"], c["ref"]["namespace"], c["ref"]["name"]): c["blocked"] or ""
        for c in json.loads(shown.stdout)["changes"]
        if c["tenant"] == vision
    }
    misplaced = {key: why for key, why in blocked.items() if reason in why}
    assert {kind for kind, _, _ in misplaced} >= PLATFORM, sorted(misplaced)
    assert all("; not written: " in why and how in why for why in misplaced.values()), "after the refusal before it"
    assert (
        f"Namespace/{nlp} of tenant {vision!r} is in no namespace (cluster-scoped)"
        in misplaced[("Namespace", None, nlp)]
    )

    platform = [
        c for c in plan.changes
        if (c.ref.kind, c.ref.namespace, c.ref.name) in misplaced and c.action in (Action.create, Action.update)
    ]  # fmt: skip
    for change, refused in zip(platform, _bypassing(plan, kube, platform), strict=True):
        assert f"; {refused}" in misplaced[(change.ref.kind, change.ref.namespace, change.ref.name)], "apply's words"


def test_a_member_making_himself_owner_is_not_bound_as_one(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    vision = op.repo.repo.vision
    rbac = client.RbacAuthorizationV1Api(k8s_admin)
    owners = rbac.read_namespaced_role_binding("mlcp-admin", vision)
    assert [s.name for s in owners.subjects] == ["alice@example.com"]
    before = {b.metadata.name: (b.role_ref.name, b.subjects) for b in rbac.list_namespaced_role_binding(vision).items}

    anchor = "    - alice@example.com\n"
    op.repo.edit(f"tenants/{vision}/tenant.yaml", anchor, f"{anchor}    - bob@example.com\n")
    op.repo.commit("vision: bob co-owns", "bob")
    result = op.apply(tmp_path / "audit.jsonl", None, "--detailed-exitcode")
    assert result.exit_code == 2, gitattack.explain(result)  # held back: a member may not change the tenant's people
    assert [s.name for s in rbac.read_namespaced_role_binding("mlcp-admin", vision).subjects] == ["alice@example.com"]

    plan, kube = _unenforced(op)
    [promoted] = [
        c for c in plan.changes
        if c.ref.kind == "RoleBinding" and c.ref.namespace == vision and c.ref.name == "mlcp-admin"
    ]  # fmt: skip
    assert promoted.action is Action.update and "bob@example.com" in str(promoted.desired), promoted
    assert promoted.decision is not None and not promoted.decision.allowed, "the authorizer refuses first"
    [message] = _bypassing(plan, kube, [promoted])
    assert "User 'bob@example.com' to mlcp-tenant-owner" in message and "do not give tenant" in message, message
    after = {b.metadata.name: (b.role_ref.name, b.subjects) for b in rbac.list_namespaced_role_binding(vision).items}
    assert after == before, "mlcp bound bob as vision's owner"
