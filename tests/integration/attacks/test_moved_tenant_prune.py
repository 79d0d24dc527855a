"""A platform admin moves vision to a new namespace; what vision leaves in the old one must go, and nothing else.

mlcp writes a tenant's workloads impersonating the deployer of its namespace, bound there alone. The deletes of an
allowed move were written as the *new* namespace's deployer (the mapping after the move), which the API server
refuses in the old one: vision's pipeline and its notebook, with the RoleBinding giving vision's people the
notebook (deleted even without `--prune`: it grants access), stayed in the old namespace for good. A delete is now
written as the deployer of the namespace the object lives in by mlcp's records, when the trusted base or an
allowed change gives the tenant that namespace.

Nor does that open another tenant's namespace: a prune redirected into nlp's namespace (as a bug or a forged
record would) is refused before anything is sent, and nlp's objects are untouched throughout.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from kubernetes import client

from controlplane.plans import Action
from reconciler import connecting, engine
from reconciler.applying import apply_plan, unchecked
from reconciler.backends.base import ApplyOptions, Status
from tests.integration.attacks import gitattack

pytestmark = pytest.mark.integration
WORKLOADS = (
    ("argoproj.io", "v1alpha1", "workflowtemplates"),
    ("argoproj.io", "v1alpha1", "cronworkflows"),
    ("kubeflow.org", "v1", "notebooks"),
)


@pytest.fixture
def op(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str) -> gitattack.Operator:
    return gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)


def _workloads(k8s_admin: client.ApiClient, namespace: str) -> dict[str, str]:
    """The workload objects in `namespace` (`plural/name` → resourceVersion), and its RoleBindings."""
    custom = client.CustomObjectsApi(k8s_admin)
    found = {}
    for group, version, plural in WORKLOADS:
        for item in custom.list_namespaced_custom_object(group, version, namespace, plural)["items"]:
            found[f"{plural}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    for binding in client.RbacAuthorizationV1Api(k8s_admin).list_namespaced_role_binding(namespace).items:
        found[f"rolebindings/{binding.metadata.name}"] = binding.metadata.resource_version
    return found


def _move(op: gitattack.Operator, to: str) -> None:
    vision = op.repo.repo.vision
    anchor = "  deletionProtection: true\n"
    op.repo.edit(f"tenants/{vision}/tenant.yaml", anchor, f"{anchor}  namespace: {to}\n")
    op.repo.commit("vision: its own namespace for the new cluster layout", "admin")


def test_an_allowed_move_deletes_what_the_tenant_left_in_its_old_namespace(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path, prefix: str
) -> None:
    vision, nlp = op.repo.repo.vision, op.repo.repo.nlp
    moved = f"{prefix}-v2"[:63]
    left = _workloads(k8s_admin, vision)
    assert {"workflowtemplates/train-detector", "notebooks/explore", "rolebindings/mlcp-notebook-explore"} <= set(left)
    theirs = _workloads(k8s_admin, nlp)
    assert "workflowtemplates" in " ".join(theirs), theirs
    _move(op, moved)

    audit = tmp_path / "move.jsonl"
    result = op.apply(audit, None, "--prune")
    assert result.exit_code == 0, gitattack.explain(result)
    now = _workloads(k8s_admin, moved)
    assert {"workflowtemplates/train-detector", "notebooks/explore", "rolebindings/mlcp-notebook-explore"} <= set(now)
    stayed = {k for k in _workloads(k8s_admin, vision) if not k.startswith("rolebindings/")}
    assert stayed == set(), f"vision's workloads were left in its old namespace: {stayed}"
    assert "rolebindings/mlcp-notebook-explore" not in _workloads(k8s_admin, vision), "people keep the old notebook"
    assert _workloads(k8s_admin, nlp) == theirs, "nothing of nlp's is touched"
    deleted = [r for r in op.records(audit, "--decision", "allow") if r["action"] == "delete"]
    assert {r["target"]["namespace"] or r["target"]["name"] for r in deleted} == {vision}, "only in (or of) the old"


def test_a_prune_redirected_into_another_tenants_namespace_is_refused_before_anything_is_sent(
    op: gitattack.Operator, k8s_admin: client.ApiClient, prefix: str
) -> None:
    """The same allowed move, planned: each of vision's deletes moved into nlp's namespace (same kind and name, as
    a record forged to say so would have it) and applied with every refusal before apply dropped."""
    vision, nlp = op.repo.repo.vision, op.repo.repo.nlp
    _move(op, f"{prefix}-v2"[:63])
    theirs = _workloads(k8s_admin, nlp)
    targets = engine.Targets(
        str(op.kubeconfig), tracking_uri=op.mlflow_uri, controller_namespace=op.repo.repo.system_ns
    )
    desired = engine.load_desired(op.repo.root)
    backends = connecting.connect(desired.repo, targets)
    plan, _ = engine.make_plan(desired, backends, prune=True, targets=targets)
    prunes = [
        c for c in plan.changes
        if c.action is Action.delete and c.tenant == vision and c.ref.namespace == vision
        and c.spec is not None and c.spec.kind in ("Pipeline", "Notebook")
    ]  # fmt: skip
    assert prunes and all(c.decision is not None and c.decision.allowed and not c.blocked for c in prunes), prunes
    redirected = [replace(c, ref=replace(c.ref, namespace=nlp, name=name)) for c in prunes for name in _names(theirs)]
    report = apply_plan(replace(plan, changes=tuple(redirected)), {"kubernetes": backends["kubernetes"]},
                        ApplyOptions(), authorize=unchecked)  # fmt: skip
    assert all(o.status is Status.failed and "not deleted" in o.message for o in report.outcomes), report.outcomes
    assert f"in namespace {nlp!r}" in report.outcomes[0].message and vision in report.outcomes[0].message
    assert _workloads(k8s_admin, nlp) == theirs, "nothing of nlp's is deleted"


def _names(objects: dict[str, str]) -> set[str]:
    return {key.partition("/")[2] for key in objects}
