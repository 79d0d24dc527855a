"""Which deployer writes a tenant's workloads comes from the trusted base and the plan's allowed Tenant changes only.

The revision under review is data: a commit that moves its tenant's namespace into another tenant's, or names
itself a member of another tenant, must not choose the account its workloads are written with. Each test builds
the governance changes the planner makes of a Tenant (`governance.tenant_objects`), judged as the authorizer
would, and asks which identity mlcp would impersonate.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration

from controlplane.loading.repo import ConfigRepo
from controlplane.loading.sources import LoadedSpec, Source
from controlplane.plans import Action, Change, Decision, ObjectRef, SpecKey
from controlplane.specs import Tenant
from reconciler import governance
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.kubernetes import KubernetesBackend
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.impersonation import Allowed, Impersonation, Misplaced, Unconfined
from reconciler.trust import TrustedBase

HOME = "ops"
RBAC = "rbac.authorization.k8s.io"
ALLOWED = Decision(True, "platform-admin", "", ("admin@x",))
DENIED = Decision(False, "default-deny", "", ("alice@x",))


def _tenant(name: str, namespace: str, *members: str) -> Tenant:
    spec: dict[str, Any] = {"owners": [f"{name}-owner@x"], "namespace": namespace}
    spec["members"] = [{"name": m, "kind": "User", "role": "edit"} for m in members]
    return Tenant.model_validate(
        {"apiVersion": "mlcp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": spec}
    )


BASE = {"vision": _tenant("vision", "team-vision", "alice@x"), "nlp": _tenant("nlp", "team-nlp", "carol@x")}


def _loaded(tenant: Tenant) -> LoadedSpec:
    return LoadedSpec(tenant, tenant.name, Source(f"tenants/{tenant.name}/tenant.yaml", 1, 1), {})


def _governance(
    tenant: Tenant, decision: Decision | None, action: Action = Action.update, blocked: str | None = None
) -> list[Change]:
    """The revision's TenantMembership and TenantNamespace changes of `tenant`, judged `decision`."""
    return [
        Change(o.ref, action, "", o.spec, o.tenant, o.source, o.rank, (), o.manifest, None, blocked, decision)
        for o in governance.tenant_objects(_loaded(tenant))
    ]


def _workload(tenant: str, namespace: str, decision: Decision | None = ALLOWED, kind: str = "Pipeline") -> Change:
    ref = ObjectRef("kubernetes", "argoproj.io/v1alpha1", "WorkflowTemplate", namespace, "p")
    return Change(ref, Action.create, "", SpecKey(kind, tenant, "p"), tenant, None, 50, decision=decision)


def _writer(changes: list[Change], base: dict[str, Tenant] = BASE) -> Impersonation:
    return Impersonation.of(base, HOME).allowing(governance.allowed_tenants(changes))


def _deployer(namespace: str) -> str:
    return f"system:serviceaccount:{HOME}:mlcp-deployer-{namespace}"


@pytest.mark.parametrize(
    ("decision", "blocked"),
    [
        (DENIED, None),  # the policy refused the move, and enforcement was bypassed
        (ALLOWED, "denied (namespace-ownership): team-nlp is nlp's"),  # allowed, but blocked by the review
        (None, None),  # never judged (a plan applied without authorization)
    ],
)
def test_a_namespace_move_that_is_not_allowed_keeps_the_bases_namespace(
    decision: Decision | None, blocked: str | None
) -> None:
    """Alice moves vision into nlp's namespace and renders vision's pipeline there: written as vision's deployer
    (the base's namespace), which the API server refuses in team-nlp; before, as nlp's deployer, which it allowed."""
    moved = _tenant("vision", "team-nlp", "alice@x")
    writer = _writer(_governance(moved, decision, blocked=blocked))
    assert writer.namespaces["vision"] == "team-vision"
    assert writer.identity_for(_workload("vision", "team-nlp")) == _deployer("team-vision")


def test_an_allowed_namespace_move_is_written_in_the_new_namespace() -> None:
    moved = _tenant("vision", "team-vision-2", "alice@x")
    writer = _writer(_governance(moved, ALLOWED))
    assert writer.identity_for(_workload("vision", "team-vision-2")) == _deployer("team-vision-2")


def test_an_allowed_new_tenant_is_written_as_its_own_deployer() -> None:
    """A Tenant creation a platform admin made (allowed): its namespace is authorized data."""
    new = _tenant("speech", "team-speech", "dan@x")
    writer = _writer(_governance(new, ALLOWED, Action.create))
    assert writer.identity_for(_workload("speech", "team-speech")) == _deployer("team-speech")


def test_a_new_tenant_nobody_allowed_has_no_deployer_and_nothing_is_sent() -> None:
    """A stranger's tenant naming nlp's namespace, its creation denied: no trusted input gives it a namespace,
    so no account is chosen at all (the revision's namespace would be nlp's)."""
    squatter = _tenant("squat", "team-nlp", "mallory@x")
    writer = _writer(_governance(squatter, Decision(False, "default-deny", "", ("mallory@x",)), Action.create))
    with pytest.raises(Unconfined, match="tenant 'squat' has no namespace in the trusted base"):
        writer.identity_for(_workload("squat", "team-nlp"))


def test_a_denied_change_falls_back_to_the_authors_tenant_by_the_trusted_people() -> None:
    """Alice names herself a member of nlp in the same revision (denied): a denied change of hers that reached
    apply is still written as her own tenant's deployer (vision), which nlp's namespace refuses."""
    joined = _tenant("nlp", "team-nlp", "carol@x", "alice@x")
    writer = _writer(_governance(joined, DENIED))
    assert "nlp" not in writer.tenants_of("alice@x")
    assert writer.identity_for(_workload("nlp", "team-nlp", DENIED)) == _deployer("team-vision")


def test_an_allowed_change_of_people_is_what_the_fallback_uses() -> None:
    joined = _tenant("nlp", "team-nlp", "carol@x", "alice@x")
    writer = _writer(_governance(joined, ALLOWED))
    assert {p.name for p in writer.people["nlp"]} == {"nlp-owner@x", "carol@x", "alice@x"}
    assert "nlp" in writer.tenants_of("alice@x")


def test_a_deleted_tenants_workloads_are_deleted_as_its_bases_deployer() -> None:
    """An allowed Tenant deletion gives no namespace: the base's still writes the deletes of its workloads."""
    gone = _governance(BASE["vision"], ALLOWED, Action.delete)
    writer = _writer(gone)
    assert writer.identity_for(_workload("vision", "team-vision")) == _deployer("team-vision")


def test_platform_kinds_and_cluster_objects_use_mlcps_own_identity() -> None:
    writer = _writer(_governance(_tenant("vision", "team-nlp"), DENIED))
    assert writer.identity_for(_workload("vision", "team-nlp", kind="Quota")) is None
    assert writer.identity_for(_workload("vision", "team-nlp", kind="Tenant")) is None


class Unreachable(ApiClient):
    def call_api(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("a request was sent")


def _backend() -> KubernetesBackend:
    configuration = Configuration()
    configuration.host = "https://127.0.0.1:1"
    return KubernetesBackend(KubeClient(Unreachable(configuration), HOME))


def test_the_backend_takes_writers_from_the_base_and_the_plan_never_from_the_revision() -> None:
    """`confine` hands the backend the revision (for its live state's scope): a revision moving vision into nlp's
    namespace does not change whose deployer writes vision; `entrust` with an allowed move does."""
    kube = _backend()
    moved = _tenant("vision", "team-nlp", "alice@x")
    revision = ConfigRepo(Path(), specs=[_loaded(moved), _loaded(BASE["nlp"])])
    kube.judge_by(TrustedBase("b" * 40, "applied", ConfigRepo(Path()), derived_tenants=BASE))
    kube.confine(revision)
    kube.entrust(governance.allowed_tenants(_governance(moved, DENIED)))
    assert kube.impersonation.identity_for(_workload("vision", "team-nlp")) == _deployer("team-vision")
    kube.entrust(governance.allowed_tenants(_governance(_tenant("vision", "team-v2"), ALLOWED)))
    assert kube.impersonation.identity_for(_workload("vision", "team-v2")) == _deployer("team-v2")
    kube.entrust(Allowed())
    assert kube.impersonation.identity_for(_workload("vision", "team-v2")) == _deployer("team-vision"), "per plan"


def test_before_a_trusted_base_no_workload_is_written_and_nothing_is_sent() -> None:
    kube = _backend()
    outcome = kube.apply(_workload("vision", "team-vision"), ApplyOptions())
    assert outcome.status is Status.failed and "no namespace in the trusted base" in outcome.message


def _platform(
    tenant: str,
    namespace: str | None,
    kind: str = "RoleBinding",
    decision: Decision | None = ALLOWED,
    action: Action = Action.create,
    spec: str = "Tenant",
) -> Change:
    """An object a platform kind renders for `tenant` (written with mlcp's own identity); `namespace` None: the
    cluster-scoped Namespace named by `kind`'s name."""
    if namespace is None:
        ref = ObjectRef("kubernetes", "v1", "Namespace", None, kind)
    else:
        api = "rbac.authorization.k8s.io/v1" if kind == "RoleBinding" else "v1"
        ref = ObjectRef("kubernetes", api, kind, namespace, "mlcp-admin")
    desired = _owners_binding(tenant) if kind == "RoleBinding" else None
    return Change(ref, action, "", SpecKey(spec, tenant, tenant), tenant, None, 31, desired=desired, decision=decision)


def _owners_binding(tenant: str, *users: str, role: str = "mlcp-tenant-owner") -> dict[str, Any]:
    """The `mlcp-admin` RoleBinding rendering.tenant makes of `tenant`'s owners (`_tenant`'s, unless `users`)."""
    subjects = [{"apiGroup": RBAC, "kind": "User", "name": user} for user in users or (f"{tenant}-owner@x",)]
    return {"roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role}, "subjects": subjects}


@pytest.mark.parametrize(("kind", "spec"), [("RoleBinding", "Tenant"), ("ResourceQuota", "Quota")])
@pytest.mark.parametrize("decision", [DENIED, None])  # refused with enforcement bypassed; never judged
def test_a_platform_object_of_a_moved_tenant_is_not_written_into_the_namespace_it_names(
    kind: str, spec: str, decision: Decision | None
) -> None:
    """Alice moves vision into nlp's namespace: mlcp's own identity, which the API server lets into every tenant's
    namespace, would bind vision's people and set vision's quota in nlp's. Refused before anything is sent; vision's
    objects in its base namespace still go."""
    writer = _writer(_governance(_tenant("vision", "team-nlp", "alice@x"), decision))
    with pytest.raises(Misplaced, match=r"in namespace 'team-nlp'.* give tenant 'vision' the namespace 'team-vision'"):
        writer.placed(_platform("vision", "team-nlp", kind, decision, spec=spec))
    with pytest.raises(Misplaced, match="no namespace \\(cluster-scoped\\)"):
        writer.placed(_platform("vision", None, "team-nlp", decision, Action.update))
    writer.placed(_platform("vision", "team-vision", kind, decision, spec=spec))
    writer.placed(_platform("vision", None, "team-vision", decision))


def test_an_allowed_move_or_new_tenant_writes_its_platform_objects_in_its_new_namespace() -> None:
    moved = _governance(_tenant("vision", "team-vision-2", "alice@x"), ALLOWED)
    new = _governance(_tenant("speech", "team-speech", "dan@x"), ALLOWED, Action.create)
    writer = _writer(moved + new)
    for tenant, namespace in (("vision", "team-vision-2"), ("speech", "team-speech")):
        writer.placed(_platform(tenant, namespace))
        writer.placed(_platform(tenant, None, namespace))
    with pytest.raises(Misplaced):
        writer.placed(_platform("vision", "team-vision"))  # what the move left is only deleted


def test_a_new_tenant_nobody_allowed_gets_no_platform_object_at_all() -> None:
    squatter = _tenant("squat", "team-nlp", "mallory@x")
    writer = _writer(_governance(squatter, Decision(False, "default-deny", "", ("mallory@x",)), Action.create))
    with pytest.raises(Unconfined, match="tenant 'squat' has no namespace in the trusted base"):
        writer.placed(_platform("squat", None, "team-nlp"))


def test_a_denied_change_of_another_tenants_platform_objects_is_confined_to_its_authors_tenant() -> None:
    """Carol (nlp) adds herself to vision's owners (denied) and enforcement is bypassed: confined as the workloads'
    fallback is, to her own tenant's namespace, so vision's bindings are not rewritten by her commit."""
    carol = Decision(False, "default-deny", "", ("carol@x",))
    writer = _writer([])
    with pytest.raises(Misplaced, match="give tenant 'nlp' \\(its author's: the change is not allowed\\)"):
        writer.placed(_platform("vision", "team-vision", decision=carol, action=Action.update))
    writer.placed(_platform("vision", "team-vision", decision=DENIED, action=Action.update))  # alice is vision's


def test_what_is_not_a_tenants_platform_write_is_left_to_other_layers() -> None:
    """Deletes (attributed by mlcp's inventory), objects of no tenant but bindings, and workloads (their deployer
    confines them)."""
    writer = _writer([])
    writer.placed(_platform("vision", "team-nlp", action=Action.delete))
    writer.placed(replace(_platform("vision", "team-nlp", kind="NetworkPolicy"), tenant=None))
    writer.placed(_workload("vision", "team-nlp"))
    writer.placed(_platform("vision", "team-nlp", action=Action.noop))


def test_the_backend_refuses_a_misplaced_platform_object_before_anything_is_sent() -> None:
    kube = _backend()
    kube.judge_by(TrustedBase("b" * 40, "applied", ConfigRepo(Path()), derived_tenants=BASE))
    kube.entrust(governance.allowed_tenants(_governance(_tenant("vision", "team-nlp", "alice@x"), DENIED)))
    for change in (_platform("vision", "team-nlp", decision=DENIED), _platform("vision", None, "team-nlp")):
        outcome = kube.apply(change, ApplyOptions())
        assert outcome.status is Status.failed and "give tenant 'vision' the namespace 'team-vision'" in outcome.message


@pytest.mark.parametrize("action", [Action.create, Action.update])
def test_a_write_without_a_spec_is_not_written_with_mlcps_own_identity(action: Action) -> None:
    """A workload change that lost its spec (a planner or review bug) was written as mlcp itself, which may write in
    every tenant's namespace: nlp's pipeline, or a RoleBinding in it, with no deployer in the way."""
    writer = _writer([])
    for lost in (replace(_workload("nlp", "team-nlp"), spec=None), replace(_platform("nlp", "team-nlp"), spec=None)):
        with pytest.raises(Unconfined, match="no spec"):
            writer.identity_for(replace(lost, action=action))
    kube = _backend()
    kube.judge_by(TrustedBase("b" * 40, "applied", ConfigRepo(Path()), derived_tenants=BASE))
    outcome = kube.apply(replace(_workload("nlp", "team-nlp"), spec=None, action=action), ApplyOptions())
    assert outcome.status is Status.failed and "no spec" in outcome.message, "refused before anything is sent"


def test_a_workload_kinds_cluster_scoped_write_has_no_deployer_and_is_not_written() -> None:
    """The catalog refuses a workload kind a cluster-scoped resource at render; beneath it, such a write was mlcp's
    own identity's (a ClusterRoleBinding of a pipeline's, bound cluster-wide)."""
    ref = ObjectRef("kubernetes", "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", None, "p")
    with pytest.raises(Unconfined, match="Pipeline's"):
        _writer([]).identity_for(replace(_workload("vision", "team-vision"), ref=ref))


def test_deletes_without_a_spec_stay_mlcps_own() -> None:
    """What no record attributes (an orphan the planner found, `planning._orphan`) is deleted as mlcp: a delete
    writes nothing, and the authorizer lets only a rule over every kind and tenant delete it."""
    writer = _writer([])
    orphan = replace(_workload("nlp", "team-nlp"), spec=None, tenant=None, action=Action.delete)
    assert writer.identity_for(orphan) is None
    cluster = ObjectRef("kubernetes", "v1", "Namespace", None, "team-old")
    assert writer.identity_for(replace(orphan, ref=cluster)) is None
    assert writer.identity_for(_workload("nlp", "team-nlp", kind="Experiment")) == _deployer("team-nlp")


def _prune(tenant: str, namespace: str, decision: Decision | None = ALLOWED) -> Change:
    """A delete of `tenant`'s pipeline in `namespace`, attributed to it by mlcp's inventory (`planning.attributed`)."""
    return replace(_workload(tenant, namespace, decision), action=Action.delete)


def test_an_allowed_move_prunes_what_it_left_as_the_deployer_of_the_namespace_it_is_in() -> None:
    """An admin moves vision to team-v2 (allowed): its workloads left in team-vision are deleted as team-vision's
    deployer, the only one bound there; as team-v2's (the mapping after the move), the API server refused them and
    the old objects were never cleaned up."""
    writer = _writer(_governance(_tenant("vision", "team-v2", "alice@x"), ALLOWED))
    assert writer.identity_for(_workload("vision", "team-v2")) == _deployer("team-v2")
    assert writer.identity_for(_prune("vision", "team-vision")) == _deployer("team-vision")
    assert writer.identity_for(_prune("vision", "team-v2")) == _deployer("team-v2")


@pytest.mark.parametrize("moved", ["team-nlp", "team-v2"])
def test_a_prune_is_never_written_in_a_namespace_the_trusted_inputs_do_not_give_the_tenant(moved: str) -> None:
    """Alice moves vision into nlp's namespace (denied) or anywhere (allowed): a delete attributed to vision in
    nlp's namespace, or one of nlp's own she asks for, is not sent as nlp's deployer, nor as anyone."""
    decision = DENIED if moved == "team-nlp" else ALLOWED
    writer = _writer(_governance(_tenant("vision", moved, "alice@x"), decision))
    with pytest.raises(Unconfined, match=r"not deleted: .* is in namespace 'team-nlp'.* give tenant 'vision' only"):
        writer.identity_for(_prune("vision", "team-nlp", decision))
    with pytest.raises(Unconfined, match="give tenant 'vision' \\(its author's: the change is not allowed\\) only"):
        writer.identity_for(_prune("nlp", "team-nlp", DENIED))
    assert writer.identity_for(_prune("nlp", "team-nlp")) == _deployer("team-nlp"), "nlp's own prunes stay nlp's"
    kube = _backend()
    kube.judge_by(TrustedBase("b" * 40, "applied", ConfigRepo(Path()), derived_tenants=BASE))
    kube.entrust(governance.allowed_tenants(_governance(_tenant("vision", moved, "alice@x"), decision)))
    outcome = kube.apply(_prune("vision", "team-nlp", decision), ApplyOptions())
    assert outcome.status is Status.failed and "not deleted" in outcome.message, "refused before anything is sent"


def _stray_binding(subject: dict[str, str], role: str = "mlcp-tenant-owner", kind: str = "RoleBinding") -> Change:
    """A binding of no tenant, of a platform kind (written with mlcp's own identity), binding `subject`."""
    namespace = None if kind == "ClusterRoleBinding" else "team-vision"
    ref = ObjectRef("kubernetes", f"{RBAC}/v1", kind, namespace, "stray")
    desired = {"roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role}, "subjects": [subject]}
    return Change(ref, Action.create, "", SpecKey("AccessPolicy", None, "p"), None, None, 31, desired=desired)


STRANGERS = [
    {"apiGroup": RBAC, "kind": "User", "name": "mallory@x"},
    {"apiGroup": RBAC, "kind": "Group", "name": "system:authenticated"},
    {"kind": "ServiceAccount", "name": "default", "namespace": "kube-system"},
    {"kind": "ServiceAccount", "name": "mlcp-deployer-team-vision", "namespace": HOME},  # mlcp's own, but no tenant's
]


@pytest.mark.parametrize("subject", STRANGERS)
@pytest.mark.parametrize(("kind", "role"), [("RoleBinding", "mlcp-tenant-owner"), ("ClusterRoleBinding", "admin")])
def test_a_binding_of_no_tenant_is_refused_whatever_it_binds(subject: dict[str, str], kind: str, role: str) -> None:
    """No platform kind renders a binding of no tenant; one that reached apply (a renderer bug, a new kind) was
    written as mlcp, with no subject checked, binding anyone to a role in a tenant's namespace or cluster-wide."""
    change = _stray_binding(subject, role, kind)
    with pytest.raises(Misplaced, match=f"binds {subject['kind']} .* to ClusterRole {role}.* of no tenant"):
        _writer([]).placed(change)
    kube = _backend()
    kube.judge_by(TrustedBase("b" * 40, "applied", ConfigRepo(Path()), derived_tenants=BASE))
    outcome = kube.apply(change, ApplyOptions())
    assert outcome.status is Status.failed and "of no tenant" in outcome.message, "refused before anything is sent"


def test_a_tenants_binding_of_another_rbac_version_is_held_to_its_people_too() -> None:
    """The check matched `rbac.authorization.k8s.io/v1` alone: a `v1beta1` RoleBinding of vision's was not checked."""
    beta = ObjectRef("kubernetes", f"{RBAC}/v1beta1", "RoleBinding", "team-vision", "mlcp-admin")
    change = replace(_platform("vision", "team-vision"), ref=beta, desired=_owners_binding("vision", "mallory@x"))
    with pytest.raises(Misplaced, match="User 'mallory@x' to mlcp-tenant-owner"):
        _writer([]).placed(change)


def test_an_author_is_found_in_her_tenant_whatever_case_the_tenant_spells_her_email() -> None:
    """Commit identities are lower-cased; vision's Tenant lists `Alice@X`. Her denied change that reached apply is
    still confined to vision's namespace, as the authorizer (which ignores case) would place her."""
    base = {**BASE, "vision": _tenant("vision", "team-vision", "Alice@X")}
    joined = _tenant("nlp", "team-nlp", "carol@x", "alice@x")
    writer = _writer(_governance(joined, DENIED), base)
    assert writer.tenants_of("alice@x") == ["vision"]
    assert writer.identity_for(_workload("nlp", "team-nlp", DENIED)) == _deployer("team-vision")
