"""What people and pods of a tenant namespace are bound to, and what mlcp itself holds to bind it.

Checked the way an attacker inside the namespace reads RBAC: for every way to act as another identity or to
grant rights (impersonation, a token, exec into another account's pod, a pod or patch that runs code as an
account, RoleBinding writes, Secrets), none is in a role bound to anyone mlcp does not fully trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from controlplane import deployrbac
from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render, roles
from controlplane.rendering.context import DEPLOYER_HOME, deployer_account
from controlplane.rendering.tenant import with_deployer_home
from tests.controlplane.helpers import PROJECT, copy_template

WRITE = {"create", "update", "patch", "delete", "deletecollection", "*"}
TAKE_OVER = {
    ("", "serviceaccounts"): {"impersonate", "*"},
    ("", "serviceaccounts/token"): {"create", "*"},
    ("", "pods"): {"create", "update", "patch", "*"},
    ("", "pods/exec"): {"create", "get", "*"},
    ("", "pods/attach"): {"create", "get", "*"},
    ("", "pods/ephemeralcontainers"): {"update", "patch", "*"},
    ("", "secrets"): {"get", "list", "watch", "create", "update", "patch", "*"},
    ("", "users"): {"impersonate", "*"},
    ("", "groups"): {"impersonate", "*"},
    ("rbac.authorization.k8s.io", "roles"): {*WRITE, "bind", "escalate"},
    ("rbac.authorization.k8s.io", "rolebindings"): WRITE,
    ("rbac.authorization.k8s.io", "clusterroles"): {*WRITE, "bind", "escalate"},
    ("networking.k8s.io", "networkpolicies"): WRITE,
    ("", "resourcequotas"): WRITE,
    ("", "limitranges"): WRITE,
    ("apps", "deployments"): WRITE,
    ("batch", "jobs"): WRITE,
}
"""(group, resource) → the verbs that let their holder act as another account of the namespace, grant rights,
or undo the namespace's isolation and limits."""


def _taking_over(rules: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    found = []
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    wild = group == "*" or resource == "*"
                    if wild or verb in TAKE_OVER.get((group, resource), set()):
                        found.append((group, resource, verb))
    return found


def _objects(root: Path, kind: str, namespace: str) -> dict[str, dict[str, Any]]:
    objects = render(RenderContext(load_repo(root)))
    return {o.ref.name: o.manifest for o in objects if o.ref.kind == kind and o.ref.namespace == namespace}


def test_people_and_pipeline_accounts_are_bound_to_mlcps_roles_which_cannot_take_the_namespace_over(
    tmp_path: Path,
) -> None:
    root = copy_template(tmp_path / "repo")  # vision: owners, an `edit` and a `view` member, a notebook
    bindings, own_roles = _objects(root, "RoleBinding", "vision"), _objects(root, "Role", "vision")
    shipped = roles.rules()
    bound = {name: b["roleRef"] for name, b in bindings.items()}
    assert not {"admin", "edit", "view"} & {ref["name"] for ref in bound.values()}, "Kubernetes' own roles"
    assert {ref["name"] for ref in bound.values() if ref["kind"] == "ClusterRole"} <= set(shipped)
    people = {bound[f"mlcp-{role}"]["name"] for role in ("admin", "edit", "view")}
    assert people == {roles.OWNER_ROLE, roles.MEMBER_ROLE, roles.VIEWER_ROLE}
    for name, ref in bound.items():
        if name == "mlcp-deployer":  # mlcp's own identity for the tenant (below)
            continue
        rules = shipped[ref["name"]] if ref["kind"] == "ClusterRole" else own_roles[ref["name"]]["rules"]
        assert _taking_over(rules) == [], (name, ref)
    assert _taking_over(shipped[roles.TRAINER_ROLE]) == []


def test_pipeline_pods_cannot_touch_other_pods() -> None:
    """Argo's executor (3.4+) reports outputs as WorkflowTaskResults; `patch` on pods let a step rewrite the
    image of the training step's pod, which runs as mlcp-trainer."""
    for name in (roles.WORKLOAD_ROLE, roles.TRAINER_ROLE):
        assert not [r for r in roles.rules()[name] if set(r["resources"]) & {"pods", "pods/exec", "pods/log"}], name


def test_the_deployer_is_no_account_of_the_tenants_namespace(tmp_path: Path) -> None:
    """Whoever may run a Workflow in the namespace may run it as any of its accounts: mlcp's deployer is named
    in the controller namespace, and nothing of it is rendered into the tenant's."""
    root = copy_template(tmp_path / "repo")
    objects = render(RenderContext(load_repo(root)))
    accounts = {o.ref.name for o in objects if o.ref.kind == "ServiceAccount" and o.ref.namespace == "vision"}
    assert accounts in ({"mlcp-workload", "mlcp-trainer"}, {"mlcp-workload"})
    deployer = _objects(root, "RoleBinding", "vision")["mlcp-deployer"]
    assert deployer["roleRef"]["name"] == roles.DEPLOYER_ROLE
    assert deployer["subjects"] == [
        {"kind": "ServiceAccount", "name": deployer_account("vision"), "namespace": DEPLOYER_HOME}
    ]
    stamped = with_deployer_home(objects, "ops-mlcp")
    [moved] = [o for o in stamped if o.ref.name == "mlcp-deployer" and o.ref.namespace == "vision"]
    assert moved.manifest["subjects"][0]["namespace"] == "ops-mlcp"
    assert deployer["subjects"][0]["namespace"] == DEPLOYER_HOME, "the rendered object is not mutated"
    others = [o for o in objects if o.ref.name != "mlcp-deployer"]
    assert [o for o in stamped if o.ref.name != "mlcp-deployer"] == others


def test_mlcps_own_cluster_role_holds_nothing_it_only_grants() -> None:
    """It binds the shipped roles (`bind` on their names) instead of holding what they grant: no pods, no
    port-forward, no TrainJob create, no write on any workload object, no ClusterRole write, no impersonation
    outside its own namespace (role.yaml)."""
    [role] = [d for d in yaml.safe_load_all(deployrbac.render()) if d]
    held = {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert not {k for k in held if k[1].startswith("pods")}, held
    assert held[("trainer.kubeflow.org", "trainjobs")] == {"get", "list", "watch"}
    assert held[("argoproj.io", "workflowtemplates")] == {"get", "list", "watch"}
    assert held[("rbac.authorization.k8s.io", "clusterroles")] == {"bind"}
    [bind] = [r for r in role["rules"] if r["resources"] == ["clusterroles"]]
    assert set(bind["resourceNames"]) == set(roles.rules())
    assert not [v for vs in held.values() for v in vs if v in {"impersonate", "escalate", "*"}]
    shipped = PROJECT / "deploy/kustomize/base/role.yaml"
    [impersonate] = [r for r in yaml.safe_load(shipped.read_text())["rules"] if "impersonate" in r["verbs"]]
    assert impersonate["resources"] == ["serviceaccounts"], "a namespaced Role: only the controller namespace's"
