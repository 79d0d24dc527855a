"""What a tenant's people, its pipelines' pods and mlcp's own token can do in the cluster, asked of the API server.

Before, owners were bound to Kubernetes' `admin` and members to `edit`: both may impersonate, mint tokens for and
run pods as every ServiceAccount of the namespace, and `mlcp-deployer` (which writes RoleBindings) lived there. Bob,
an `edit` member, impersonated it and bound `mlcp-tenant-deployer` to an outsider; Alice, an owner, could bind
`admin` to anyone. The pipelines' account could patch every pod of the namespace (the training step's, which runs
as `mlcp-trainer`, included), and mlcp's own ClusterRole held pods `patch` and port-forward everywhere, because it
had to hold whatever it granted. Each class is asked here as the attacker would: every way to act as another
identity or grant rights, by the people, by the pods, and by mlcp's deployed RBAC in other namespaces; with the
shipped admission policy, mlcp's token is also tried where RBAC alone let it write (any namespace). And each role is
asked for what its job needs (a member's retry, a tuning's trials).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import git
import pytest
import yaml
from kubernetes import client

from controlplane.labels import ADOPTABLE_LABEL, ADOPTED_ANNOTATION, FIELD_MANAGER, MANAGED_BY, MANAGER
from controlplane.rendering import admission, roles
from controlplane.rendering.context import deployer_account
from devenv.clients import api_client
from reconciler.backends.kubernetes_client import KubeClient
from tests.integration import configrepo, kind_support
from tests.integration.reconcile_support import ROOT

pytestmark = pytest.mark.integration
RBAC = "rbac.authorization.k8s.io"
TAKE_OVER = [  # (verb, group, resource, subresource, name): each lets its holder act as another or grant rights
    ("impersonate", "", "serviceaccounts", "", "mlcp-deployer"),
    ("impersonate", "", "serviceaccounts", "", "mlcp-trainer"),
    ("create", "", "serviceaccounts", "token", "mlcp-trainer"),
    ("create", "", "pods", "", ""),
    ("patch", "", "pods", "", "run-train-1"),
    ("create", "", "pods", "exec", "run-train-1"),
    ("create", "", "pods", "attach", "run-train-1"),
    ("patch", "", "pods", "ephemeralcontainers", "run-train-1"),
    ("get", "", "secrets", "", "x"),
    ("create", "", "secrets", "", ""),
    ("create", RBAC, "rolebindings", "", ""),
    ("patch", RBAC, "rolebindings", "", "mlcp-deployer"),
    ("create", RBAC, "roles", "", ""),
    ("bind", RBAC, "clusterroles", "", "admin"),
    ("bind", RBAC, "clusterroles", "", roles.DEPLOYER_ROLE),
    ("patch", "networking.k8s.io", "networkpolicies", "", "mlcp-isolation"),
    ("delete", "", "resourcequotas", "", "x"),
    ("create", "apps", "deployments", "", ""),
    ("create", "batch", "jobs", "", ""),
]


def _allowed(
    k8s_admin: client.ApiClient, user: str, groups: list[str], namespace: str, verb: str, group: str, resource: str,
    subresource: str, name: str,
) -> bool:  # fmt: skip
    attributes = {"namespace": namespace, "verb": verb, "group": group, "resource": resource}
    attributes |= {"subresource": subresource} if subresource else {}
    attributes |= {"name": name} if name else {}
    review = client.AuthorizationV1Api(k8s_admin).create_subject_access_review(
        {"spec": {"user": user, "groups": groups, "resourceAttributes": attributes}}
    )
    return bool(review.status.allowed)


@pytest.fixture
def repo(tmp_path: Path, prefix: str, kubeconfig: Path) -> Iterator[configrepo.ConfigRepo]:
    repo = configrepo.make(tmp_path, prefix)
    kind_support.apply(repo, kubeconfig, trusted=True)
    yield repo


@pytest.mark.parametrize(
    ("user", "groups"),
    [
        ("alice@example.com", []),  # owner
        ("bob@example.com", []),  # member (edit)
        ("someone@example.com", ["-readers"]),  # viewer, through the group `<vision>-readers`
    ],
)
def test_no_person_of_the_tenant_can_act_as_another_identity_or_grant_rights(
    repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient, user: str, groups: list[str]
) -> None:
    ns = repo.vision
    groups = [f"{ns}{g}" for g in groups]
    assert _allowed(k8s_admin, user, groups, ns, "get", "argoproj.io", "workflowtemplates", "", ""), "bound at all"
    granted = [args for args in TAKE_OVER if _allowed(k8s_admin, user, groups, ns, *args)]
    assert granted == [], f"{user} may {granted} in {ns}"
    deployer = deployer_account(ns)
    assert not _allowed(k8s_admin, user, groups, repo.system_ns, "impersonate", "", "serviceaccounts", "", deployer)


JOBS = {  # role → what its holders need for their job: (verb, group, resource, subresource)
    "viewer": [
        ("watch", "argoproj.io", "workflows", ""),  # argo watch, argo list
        ("get", "", "pods", "log"),  # argo logs, kubectl logs
        ("get", "serving.kserve.io", "inferenceservices", ""),
        ("get", "kubeflow.org", "experiments", ""),  # a tuning's best trial
        ("list", "kubeflow.org", "trials", ""),  # every trial's parameters and metrics
        ("get", "kubeflow.org", "notebooks", ""),
    ],
    "member": [
        ("get", "argoproj.io", "workflowtemplates", ""),  # argo submit --from workflowtemplate/<name>
        ("create", "argoproj.io", "workflows", ""),  # mlcp run, argo submit
        ("patch", "argoproj.io", "workflows", ""),  # argo stop, terminate, suspend, resume
        ("update", "argoproj.io", "workflows", ""),  # argo retry: the run's status
        ("delete", "", "pods", ""),  # argo retry: the failed steps' pods, before they start again
        ("delete", "argoproj.io", "workflows", ""),
    ],
}
JOBS["owner"] = [*JOBS["member"], ("deletecollection", "argoproj.io", "workflows", "")]


@pytest.mark.parametrize(
    ("user", "groups", "jobs"),
    [
        ("alice@example.com", [], ("viewer", "member", "owner")),
        ("bob@example.com", [], ("viewer", "member")),
        ("someone@example.com", ["-readers"], ("viewer",)),
    ],
)
def test_the_people_of_a_tenant_can_do_their_jobs(
    repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient, user: str, groups: list[str], jobs: tuple[str, ...]
) -> None:
    """Members could not retry a failed run (`argo retry` deletes its failed pods), and nobody could list a tuning's
    Katib trials, where each trial's parameters and metrics are."""
    ns = repo.vision
    groups = [f"{ns}{g}" for g in groups]
    needed = {args for job in jobs for args in JOBS[job]}
    missing = sorted(args for args in needed if not _allowed(k8s_admin, user, groups, ns, *args, ""))
    assert missing == [], f"{user} cannot {missing} in {ns}"


def test_a_member_runs_pipelines_but_not_as_mlcps_deployer(
    repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient, k8s_user: Callable[..., client.ApiClient]
) -> None:
    """bob impersonates the deployer (whatever account the live `mlcp-deployer` binding names, and the old name) to
    bind its role to mallory."""
    ns = repo.vision
    [named] = client.RbacAuthorizationV1Api(k8s_admin).read_namespaced_role_binding("mlcp-deployer", ns).subjects
    assert (named.namespace, named.name) == (repo.system_ns, deployer_account(ns)), "named in the controller's"
    binding = {
        "metadata": {"name": "welcome-mallory"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": roles.DEPLOYER_ROLE},
        "subjects": [{"apiGroup": RBAC, "kind": "User", "name": "mallory@example.com"}],
    }
    for identity in (
        f"system:serviceaccount:{ns}:mlcp-deployer",
        f"system:serviceaccount:{named.namespace}:{named.name}",
        None,  # as himself
    ):
        bob = k8s_user("bob@example.com")
        if identity:
            bob.set_default_header("Impersonate-User", identity)
        with pytest.raises(client.ApiException) as refused:
            client.RbacAuthorizationV1Api(bob).create_namespaced_role_binding(ns, binding)
        assert refused.value.status == 403, (identity, refused.value.body)
    assert _allowed(k8s_admin, "bob@example.com", [], ns, "create", "argoproj.io", "workflows", "", ""), "runs"


def test_a_pipeline_pod_cannot_rewrite_the_training_steps_pod(
    repo: configrepo.ConfigRepo, k8s_admin: client.ApiClient
) -> None:
    """mlcp-workload held `patch` on every pod: a step rewrote the image of the running training step's pod, whose
    account is mlcp-trainer, and so created TrainJobs with its token. Argo's executor needs no pod rights."""
    ns = repo.vision
    for account in ("mlcp-workload", "mlcp-trainer"):
        user = f"system:serviceaccount:{ns}:{account}"
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"]
        for verb in ("get", "watch", "patch", "update", "delete"):
            assert not _allowed(k8s_admin, user, groups, ns, verb, "", "pods", "", "run-train-1"), (account, verb)
    workload = f"system:serviceaccount:{ns}:mlcp-workload"
    assert _allowed(k8s_admin, workload, [], ns, "create", "argoproj.io", "workflowtaskresults", "", ""), "bound"


def test_mlcps_deployed_rbac_cannot_take_over_other_namespaces(prefix: str, k8s_admin: client.ApiClient) -> None:
    """deploy/'s ClusterRole gave mlcp pods `patch` and port-forward, TrainJob `create`, every ClusterRole's writes
    and `bind` on `admin`, in every namespace: its token could run code as any account of the cluster."""
    base = ROOT / "deploy/kustomize/base"
    role = yaml.safe_load((base / "clusterrole.yaml").read_text())
    name = f"{prefix}-mlcp"[:63]
    role["metadata"] = {"name": name}
    rbac = client.RbacAuthorizationV1Api(k8s_admin)
    rbac.create_cluster_role(role)
    rbac.create_cluster_role_binding({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "mlcp-reconciler", "namespace": name}],
    })  # fmt: skip
    sa, groups = f"system:serviceaccount:{name}:mlcp-reconciler", ["system:serviceaccounts", "system:authenticated"]
    try:
        asked: list[tuple[str, str, str, str, str, str]] = [
            ("kube-system", "patch", "", "pods", "", "x"),
            ("kube-system", "create", "", "pods", "portforward", "x"),
            ("kube-system", "create", "", "pods", "exec", "x"),
            ("kube-system", "delete", "", "persistentvolumeclaims", "", "x"),
            ("kube-system", "create", "trainer.kubeflow.org", "trainjobs", "", ""),
            ("kube-system", "create", "argoproj.io", "workflowtemplates", "", ""),
            ("kube-system", "impersonate", "", "serviceaccounts", "", "mlcp-deployer"),
            ("kube-system", "get", "", "secrets", "", "x"),
            ("", "delete", RBAC, "clusterroles", "", "cluster-admin"),
            ("", "patch", RBAC, "clusterroles", "", roles.DEPLOYER_ROLE),
            ("", "create", RBAC, "clusterroles", "", ""),
            ("", "bind", RBAC, "clusterroles", "", "admin"),
            ("", "bind", RBAC, "clusterroles", "", "cluster-admin"),
            ("", "impersonate", "", "users", "", "admin@example.com"),
        ]
        allowed = {args: _allowed(k8s_admin, sa, groups, *args) for args in asked}
        assert not [args for args, yes in allowed.items() if yes], allowed
        assert _allowed(k8s_admin, sa, groups, "", "bind", RBAC, "clusterroles", "", roles.DEPLOYER_ROLE)
    finally:
        rbac.delete_cluster_role_binding(name)
        rbac.delete_cluster_role(name)


def test_mlcps_token_writes_only_in_namespaces_mlcp_manages(
    repo: configrepo.ConfigRepo, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    """With the shipped ClusterRole, mlcp's token bound `mlcp-tenant-owner` to anyone in any namespace, relabelled
    any namespace `privileged`, opened any NetworkPolicy and made namespaces of any name: RBAC cannot say "only
    tenants' namespaces". The shipped admission policy does: a stolen token is refused there, the controller's own
    writes in a tenant's namespace go on, and a namespace a cluster admin marked adoptable may be taken over."""
    name = f"{prefix}-mlcp"[:63]
    rbac, core = client.RbacAuthorizationV1Api(k8s_admin), client.CoreV1Api(k8s_admin)
    role = yaml.safe_load((ROOT / "deploy/kustomize/base/clusterrole.yaml").read_text())
    role["metadata"] = {"name": name}
    rbac.create_cluster_role(role)
    rbac.create_cluster_role_binding({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": admission.CONTROLLER_ACCOUNT, "namespace": name}],
    })  # fmt: skip
    team = f"{prefix}-team"[:63]  # a namespace a team made by hand
    core.create_namespace({"metadata": {"name": team}})
    account = f"system:serviceaccount:{name}:{admission.CONTROLLER_ACCOUNT}"
    token = api_client(kubeconfig, impersonate=account)  # the stolen token: the admin impersonating the account
    as_rbac, as_core = client.RbacAuthorizationV1Api(token), client.CoreV1Api(token)
    as_net = client.NetworkingV1Api(token)
    mallory = [{"apiGroup": RBAC, "kind": "User", "name": "mallory@example.com"}]
    owner = {"metadata": {"name": "m"}, "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": roles.OWNER_ROLE}}
    privileged = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    opened = {"metadata": {"name": "open"}, "spec": {"podSelector": {"matchLabels": {"nothing": "selected"}}}}
    refused: dict[str, Callable[[], Any]] = {
        "bind the owner role in kube-system": lambda: as_rbac.create_namespaced_role_binding(
            "kube-system", owner | {"subjects": mallory}, dry_run="All"
        ),
        "bind the owner role in a team's namespace": lambda: as_rbac.create_namespaced_role_binding(
            team, owner | {"subjects": mallory}, dry_run="All"
        ),
        "relabel kube-system privileged": lambda: as_core.patch_namespace("kube-system", privileged, dry_run="All"),
        "relabel a team's namespace privileged": lambda: as_core.patch_namespace(team, privileged, dry_run="All"),
        "mark a team's namespace adopted": lambda: as_core.patch_namespace(
            team, {"metadata": {"annotations": {ADOPTED_ANNOTATION: "true"}}}, dry_run="All"
        ),
        "open a team's namespace": lambda: as_net.create_namespaced_network_policy(team, opened, dry_run="All"),
        "make a namespace mlcp does not label": lambda: as_core.create_namespace(
            {"metadata": {"name": f"{team}-x"[:63]}}, dry_run="All"
        ),
    }
    try:
        for what, call in refused.items():
            with pytest.raises(client.ApiException) as denied:
                call()
            assert denied.value.status == 403 and admission.SCOPE_POLICY in str(denied.value.body), (what, denied)
        # its own job: a tenant's binding and labels; a namespace a cluster admin marked adoptable
        as_rbac.create_namespaced_role_binding(repo.vision, owner | {"subjects": mallory}, dry_run="All")
        as_core.patch_namespace(repo.vision, privileged, dry_run="All")
        core.patch_namespace(team, {"metadata": {"labels": {ADOPTABLE_LABEL: "true"}}})
        as_core.patch_namespace(team, {"metadata": {"labels": {MANAGED_BY: MANAGER}}}, dry_run="All")
    finally:
        token.close()
        core.delete_namespace(team)
        rbac.delete_cluster_role_binding(name)
        rbac.delete_cluster_role(name)


def test_an_allowed_change_by_a_platform_admin_who_owns_another_tenant_is_applied(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    """The platform admin also owns nlp. Her change to vision's pipeline is allowed (platform-admin, all tenants),
    and was written as nlp's deployer, which the API server refused in vision's namespace."""
    admin = configrepo.ACTOR
    owners = "    - carol@example.com\n"
    repo.edit(f"tenants/{repo.nlp}/tenant.yaml", owners, f"{owners}    - {admin.email}\n")
    repo.commit("the platform admin co-owns nlp")
    kind_support.apply(repo, kubeconfig)
    pipeline = f"tenants/{repo.vision}/pipelines/train-detector.yaml"
    repo.edit(pipeline, "ghcr.io/example/vision-data:1.3.0", "ghcr.io/example/vision-data:1.4.0")
    repo.commit("platform: vision's new data image", author=git.Actor("Admin", str(admin.email)))
    plan, report, kube = kind_support.apply(repo, kubeconfig, must_succeed=False)
    [change] = [c for c in plan.changes if c.ref.kind == "WorkflowTemplate" and c.ref.namespace == repo.vision]
    assert change.decision is not None and change.decision.allowed, change.decision
    assert kube.impersonation is not None
    expected = f"system:serviceaccount:{repo.system_ns}:{deployer_account(repo.vision)}"
    assert kube.impersonation.identity_for(change) == expected
    assert not report.failed, [(str(o.change.ref), o.message) for o in report.failed]
    template: Any = client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
        "argoproj.io", "v1alpha1", repo.vision, "workflowtemplates", "train-detector"
    )
    assert "ghcr.io/example/vision-data:1.4.0" in yaml.safe_dump(template)


def test_bindings_an_earlier_version_wrote_are_replaced_on_upgrade(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    """A cluster an earlier mlcp converged has `mlcp-edit` bound to `edit`, `mlcp-admin` to `admin`, `mlcp-workload`
    to a per-tenant Role (with pods `patch`) and `mlcp-deployer` naming an account of the tenant's namespace. A
    roleRef cannot be updated, so the next apply replaces those bindings (no --prune needed): nobody keeps `edit`,
    and the deployer binding names the controller namespace's account."""
    repo = configrepo.make(tmp_path, prefix)
    kind_support.apply(repo, kubeconfig, trusted=True)
    ns, rbac = repo.vision, client.RbacAuthorizationV1Api(k8s_admin)
    kube = KubeClient.from_kubeconfig(str(kubeconfig), None, repo.system_ns)
    in_ns = [{"kind": "ServiceAccount", "name": "mlcp-deployer", "namespace": ns}]
    earlier_shapes = {  # binding → (roleRef kind, roleRef name, subjects or None to keep them)
        "mlcp-edit": ("ClusterRole", "edit", None),
        "mlcp-admin": ("ClusterRole", "admin", None),
        "mlcp-workload": ("Role", "mlcp-workload", None),
        "mlcp-deployer": ("ClusterRole", roles.DEPLOYER_ROLE, in_ns),
    }
    for binding, (kind, old, subjects) in earlier_shapes.items():
        path = f"/apis/{RBAC}/v1/namespaces/{ns}/rolebindings/{binding}"
        live = kube.request("GET", path)
        rbac.delete_namespaced_role_binding(binding, ns)
        earlier = {key: live[key] for key in ("apiVersion", "kind", "subjects")}
        earlier["metadata"] = {k: live["metadata"][k] for k in ("name", "namespace", "labels", "annotations")}
        earlier["roleRef"] = {**live["roleRef"], "kind": kind, "name": old}  # as an earlier mlcp applied it
        earlier["subjects"] = subjects or live["subjects"]
        kube.request("PATCH", path, [("fieldManager", FIELD_MANAGER)], earlier, "application/apply-patch+yaml")
    _, report, _ = kind_support.apply(repo, kubeconfig)
    notes = {o.change.ref.name: o.message for o in report.outcomes if o.change.ref.kind == "RoleBinding"}
    assert all("replaced" in notes[b] for b in ("mlcp-edit", "mlcp-admin", "mlcp-workload")), notes
    live = {b: rbac.read_namespaced_role_binding(b, ns) for b in earlier_shapes}
    assert (live["mlcp-edit"].role_ref.name, live["mlcp-admin"].role_ref.name) == (roles.MEMBER_ROLE, roles.OWNER_ROLE)
    assert (live["mlcp-workload"].role_ref.kind, live["mlcp-workload"].role_ref.name) == (
        "ClusterRole",
        "mlcp-workload",
    )
    [deployer] = live["mlcp-deployer"].subjects
    assert (deployer.namespace, deployer.name) == (repo.system_ns, deployer_account(ns))
    again, _, _ = kind_support.apply(repo, kubeconfig)
    assert not [c for c in again.changes if c.ref.kind == "RoleBinding" and c.action.value != "no-op"]
