"""The kinds' declarations: what they derive, and the contradictions they refuse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from controlplane import deployrbac
from controlplane.rendering import catalog, registry
from controlplane.rendering.catalog import Resource
from controlplane.rendering.context import RANK_ORDER
from controlplane.rendering.roles import deployer_rules
from controlplane.specs import KINDS
from tests import probekind
from tests.controlplane.helpers import PROJECT


def test_builtin_kinds_declare_what_the_central_lists_used_to_hold() -> None:
    kinds = {(r.api_version, r.kind) for r in catalog.resources()}
    assert ("v1", "Namespace") in kinds and ("serving.kserve.io/v1beta1", "InferenceService") in kinds
    assert RANK_ORDER["Namespace"] < RANK_ORDER["RoleBinding"] < RANK_ORDER["WorkflowTemplate"]
    assert {k for k, cls in KINDS.items() if not cls.workload} == {"Tenant", "Quota", "AccessPolicy"}


def test_the_deployer_may_write_workload_objects_only() -> None:
    granted = {(g, p) for rule in deployer_rules() for g in rule["apiGroups"] for p in rule["resources"]}
    assert ("argoproj.io", "workflowtemplates") in granted
    assert not {("", "namespaces"), ("rbac.authorization.k8s.io", "clusterroles"), ("", "limitranges")} & granted


def test_a_kind_declared_elsewhere_reaches_ranks_deployer_role_and_deploy_role() -> None:
    with probekind.declared():
        assert RANK_ORDER["WorkflowEventBinding"] == 80
        granted = {p for rule in deployer_rules() for p in rule["resources"]}
        assert "workfloweventbindings" in granted
        assert "workfloweventbindings" in deployrbac.render()
    assert "WorkflowEventBinding" not in RANK_ORDER
    assert "workfloweventbindings" not in deployrbac.render()


def test_contradicting_declarations_are_refused() -> None:
    with probekind.declared(), pytest.raises(catalog.CatalogError, match="declared twice"):
        registry.renders("Probe", dataclasses.replace(probekind.BINDING, plural="bindings"))


def test_a_kind_may_rank_an_object_type_of_another_kind_its_own_way() -> None:
    late_binding = Resource(90, "rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True, True, True)
    with probekind.declared():
        registry.renders("Probe", late_binding)
        assert catalog.declared_by("Probe", "rbac.authorization.k8s.io/v1", "RoleBinding") == late_binding
        bindings = [r for r in catalog.resources() if r.kind == "RoleBinding"]
        assert [r.rank for r in bindings] == [RANK_ORDER["RoleBinding"]] == [31], "listed once, first rank wins"
        assert late_binding.plural in {p for rule in deployer_rules() for p in rule["resources"]}


def test_a_kind_cannot_say_an_object_type_that_gives_access_gives_none() -> None:
    """Whether RoleBindings give access decides whether one removed from git waits for prune: a second
    declaration that says otherwise is refused, not merged."""
    silent = Resource(90, "rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True)
    with probekind.declared(), pytest.raises(catalog.CatalogError, match="declared twice"):
        registry.renders("Probe", silent)
    assert ("rbac.authorization.k8s.io/v1", "RoleBinding") in catalog.ACCESS


def test_a_workload_kind_cannot_declare_a_cluster_scoped_object() -> None:
    cluster_wide = Resource(90, "argoproj.io", "v1alpha1", "ClusterWorkflowTemplate", "clusterworkflowtemplates", False)
    with probekind.declared(), pytest.raises(catalog.CatalogError, match="confined"):
        registry.renders("Probe", cluster_wide)


def test_an_object_its_kind_did_not_declare_fails_at_render() -> None:
    from controlplane.loading.repo import load_repo
    from controlplane.rendering.context import RenderContext, desired

    repo = load_repo(PROJECT / "repo_template")
    loaded = repo.of_kind("Pipeline")[0]
    foreign = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    with pytest.raises(catalog.CatalogError, match="does not declare"):
        desired(loaded, foreign)
    assert desired(loaded, registry.RENDERERS["Pipeline"][0](loaded, RenderContext(repo))[0].manifest)


def test_deploy_cluster_role_is_fresh(tmp_path: Path) -> None:
    assert not deployrbac.stale(PROJECT / deployrbac.DEFAULT_PATH), "run `make rbac` and commit"
    path = tmp_path / "clusterrole.yaml"
    assert deployrbac.main([str(path)]) == 0
    assert deployrbac.main(["--check", str(path)]) == 0
    path.write_text(path.read_text().replace("inferenceservices", "pods"))
    assert deployrbac.main(["--check", str(path)]) == 1
    path.write_text(deployrbac.render())
    roles = tmp_path / deployrbac.TENANT_ROLES
    roles.write_text(roles.read_text().replace("workflowtaskresults", "pods"))
    assert deployrbac.main(["--check", str(path)]) == 1, "the tenant roles beside it are checked too"


def test_what_a_workload_kinds_roles_grant_is_held_by_the_shipped_deployer_role_not_by_mlcp() -> None:
    proxy = catalog.Grant("", "services/proxy", ("get",))
    with probekind.declared():
        registry.renders("Probe", grants=(proxy,))
        assert {"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"]} in deployer_rules()
        assert "resources: [services/proxy]" in deployrbac.render_tenant_roles()
        assert "services/proxy" not in deployrbac.render(), "mlcp binds the role; it need not hold what it grants"
    assert "services/proxy" not in deployrbac.render_tenant_roles()


def test_the_objects_that_bound_a_tenant_say_so_and_workloads_do_not() -> None:
    """A conflict on an object that bounds a tenant is taken back under any field manager's name (the Kubernetes
    backend asks the declaration): RBAC, the NetworkPolicy, quotas, accounts and the namespace; a workload another
    controller may co-own is not."""
    bounding = {r.kind for r in catalog.resources() if r.bounds_tenant}
    assert bounding >= {"Namespace", "ServiceAccount", "Role", "RoleBinding", "NetworkPolicy", "ResourceQuota"}
    assert "LimitRange" in bounding
    assert not bounding & {"WorkflowTemplate", "CronWorkflow", "Notebook", "InferenceService", "TrainJob"}


def test_a_workload_kinds_rbac_is_deleted_before_the_tenants_own() -> None:
    """Deletes run in reverse rank: by kind alone a notebook's Role and RoleBinding share the Tenant's low ranks,
    and are deleted after the tenant's deployer binding (31) that lets their writer delete them; by the kind that
    declared them, before it."""
    rbac = "rbac.authorization.k8s.io/v1"
    assert RANK_ORDER["Role"] < RANK_ORDER["RoleBinding"] == catalog.declared_rank("Tenant", rbac, "RoleBinding")
    for kind in ("Role", "RoleBinding"):
        assert (catalog.declared_rank("Notebook", rbac, kind) or 0) > RANK_ORDER["RoleBinding"]
    assert catalog.declared_rank("Notebook", rbac, "ClusterRole") is None
