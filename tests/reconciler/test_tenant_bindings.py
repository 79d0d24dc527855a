"""A tenant's RoleBinding written with mlcp's own identity binds only whom the trusted Tenant spec gives that role.

Bob is an `edit` member of vision (the template's). With the authorizer's refusal out of the way (enforcement
bypassed, a bug), each of his attempts below reached the API server as mlcp, which may bind the tenant roles to
anyone in vision's namespace: the binding lands in vision's own namespace, so `placed` alone let it through. Every
binding mlcp renders itself (people, the pipeline accounts, the deployer in the controller namespace) still goes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from controlplane.loading.repo import load_repo
from controlplane.plans import Action, Change, Decision, DesiredObject
from controlplane.rendering import RenderContext, render
from controlplane.rendering.tenant import with_deployer_home
from controlplane.specs import Tenant
from reconciler import governance
from reconciler.impersonation import Impersonation, Misplaced
from tests.controlplane.helpers import copy_template

HOME = "ops"
RBAC = "rbac.authorization.k8s.io"
BOB = Decision(False, "default-deny", "", ("bob@example.com",))
ADMIN = Decision(True, "platform-admin", "", ("admin@x",))


def _rendered(root: Path) -> tuple[dict[str, Tenant], list[DesiredObject]]:
    repo = load_repo(root)
    tenants = {loaded.tenant or "": cast(Tenant, loaded.spec) for loaded in repo.of_kind("Tenant")}
    return tenants, with_deployer_home(render(RenderContext(repo)), HOME)


@pytest.fixture
def base(tmp_path: Path) -> tuple[Impersonation, list[DesiredObject]]:
    tenants, objects = _rendered(copy_template(tmp_path / "repo"))
    bindings = [o for o in objects if o.ref.kind == "RoleBinding" and o.spec.kind == "Tenant"]
    return Impersonation.of(tenants, HOME), bindings


def _change(obj: DesiredObject, decision: Decision | None, manifest: dict[str, Any] | None = None) -> Change:
    desired = manifest if manifest is not None else obj.manifest
    return Change(
        obj.ref, Action.update, "", obj.spec, obj.tenant, obj.source, obj.rank, desired=desired, decision=decision
    )


def _binding(bindings: list[DesiredObject], tenant: str, name: str) -> DesiredObject:
    return next(b for b in bindings if b.tenant == tenant and b.ref.name == name)


def test_every_binding_mlcp_renders_goes(base: tuple[Impersonation, list[DesiredObject]]) -> None:
    writer, bindings = base
    names = {(b.tenant, b.ref.name) for b in bindings}
    assert {("vision", n) for n in ("mlcp-admin", "mlcp-edit", "mlcp-view", "mlcp-deployer", "mlcp-workload")} <= names
    for binding in bindings:
        writer.placed(_change(binding, ADMIN))
        writer.placed(_change(binding, BOB if binding.tenant == "vision" else None))


def _with(binding: DesiredObject, *subjects: dict[str, Any], role: str | None = None) -> dict[str, Any]:
    manifest = {**binding.manifest, "subjects": [*binding.manifest["subjects"], *subjects]}
    if role is not None:
        manifest["roleRef"] = {**manifest["roleRef"], "name": role}
    return manifest


def _user(name: str, kind: str = "User") -> dict[str, Any]:
    return {"apiGroup": RBAC, "kind": kind, "name": name}


ATTEMPTS = {
    "bob adds himself to the owners": (
        "mlcp-admin",
        [_user("bob@example.com")],
        None,
        "bob@example.com' to mlcp-tenant-owner",
    ),
    "a stranger as member": ("mlcp-edit", [_user("mallory@x")], None, "'mallory@x' to mlcp-tenant-member"),
    "the readers' group as members": ("mlcp-edit", [_user("vision-readers", "Group")], None, "Group 'vision-readers'"),
    "the member binding made the owner role": (
        "mlcp-edit",
        [],
        "mlcp-tenant-owner",
        "bob@example.com' to mlcp-tenant-owner",
    ),
    "Kubernetes' own admin": ("mlcp-edit", [], "admin", "to admin"),
    "the pipeline account as owner": (
        "mlcp-admin",
        [{"kind": "ServiceAccount", "name": "mlcp-workload", "namespace": "vision"}],
        None,
        "ServiceAccount vision/mlcp-workload to mlcp-tenant-owner",
    ),
    "another tenant's deployer": (
        "mlcp-deployer",
        [{"kind": "ServiceAccount", "name": "mlcp-deployer-nlp-team", "namespace": HOME}],
        None,
        "ServiceAccount ops/mlcp-deployer-nlp-team",
    ),
    "an account of his own namespace as deployer": (
        "mlcp-deployer",
        [{"kind": "ServiceAccount", "name": "mlcp-deployer-vision", "namespace": "vision"}],
        None,
        "ServiceAccount vision/mlcp-deployer-vision",
    ),
}


@pytest.mark.parametrize(("name", "subjects", "role", "named"), ATTEMPTS.values(), ids=ATTEMPTS.keys())
def test_bob_cannot_have_mlcp_bind_what_the_trusted_spec_does_not_give(
    base: tuple[Impersonation, list[DesiredObject]],
    name: str,
    subjects: list[dict[str, Any]],
    role: str | None,
    named: str,
) -> None:
    writer, bindings = base
    binding = _binding(bindings, "vision", name)
    for decision in (BOB, None):  # refused with enforcement bypassed; never judged
        with pytest.raises(Misplaced, match="do not give tenant 'vision'") as refused:
            writer.placed(_change(binding, decision, _with(binding, *subjects, role=role)))
        assert named in str(refused.value)


def test_a_role_ref_to_a_namespace_role_is_refused(base: tuple[Impersonation, list[DesiredObject]]) -> None:
    writer, bindings = base
    binding = _binding(bindings, "vision", "mlcp-edit")
    manifest = {**binding.manifest, "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "mlcp-tenant-member"}}
    with pytest.raises(Misplaced, match="not one of the shipped ClusterRoles"):
        writer.placed(_change(binding, BOB, manifest))


def test_an_allowed_change_of_people_is_what_the_bindings_may_grant(tmp_path: Path) -> None:
    """Alice (an owner) makes bob an owner and her policy allows it: the binding the revision renders is written;
    the same change denied is not."""
    root = copy_template(tmp_path / "repo")
    base_tenants, _ = _rendered(root)
    tenant = root / "tenants" / "vision" / "tenant.yaml"
    tenant.write_text(
        tenant.read_text().replace("    - alice@example.com\n", "    - alice@example.com\n    - bob@example.com\n")
    )
    repo = load_repo(root)
    promoted = next(loaded for loaded in repo.of_kind("Tenant") if loaded.tenant == "vision")
    owners = _binding(with_deployer_home(render(RenderContext(repo)), HOME), "vision", "mlcp-admin")
    assert _user("bob@example.com") in owners.manifest["subjects"]
    for decision, written in ((ADMIN, True), (BOB, False)):
        membership = [
            Change(o.ref, Action.update, "", o.spec, o.tenant, o.source, o.rank, desired=o.manifest, decision=decision)
            for o in governance.tenant_objects(promoted)
        ]
        writer = Impersonation.of(base_tenants, HOME).allowing(governance.allowed_tenants(membership))
        if written:
            writer.placed(_change(owners, decision))
        else:
            with pytest.raises(Misplaced, match=r"bob@example\.com' to mlcp-tenant-owner"):
                writer.placed(_change(owners, decision))
