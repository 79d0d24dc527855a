"""What a tenant's RoleBinding written with mlcp's own identity may grant: what the trusted Tenant spec gives.

A tenant's platform RoleBindings (rendering.tenant) are written with mlcp's own
identity, which holds `bind` on the shipped tenant roles in every tenant's
namespace: the API server checks nothing of whom they bind. `placed` holds them
to the tenant's trusted namespace; this holds what they grant to the trusted
people. With the authorizer's refusal out of the way, bob (an `edit` member of
vision) adding himself to vision's owners had mlcp bind him to
`mlcp-tenant-owner` in vision's own namespace: only the location was checked.

So each subject of such a binding must be one the trusted inputs (the base's
Tenant specs and the plan's allowed membership changes: governance.allowed_tenants)
give that tenant with that role: a user or group (`Person`) bound to the
ClusterRole its Tenant role maps to (`roles.PEOPLE_ROLES`: owners are `admin`),
or one of the accounts mlcp renders itself: the workload and trainer accounts
of the tenant's namespace bound to their shipped roles, and the deployer
account mlcp impersonates, in the controller namespace, bound to
`mlcp-tenant-deployer` (`with_deployer_home` moves it there, and `home` is that
namespace). Anything else (another role, another account, a Role, a subject
kind mlcp never renders) refuses the whole binding before anything is sent.

A binding is known by its group and kind, whatever the version (`binds`), so a
`v1beta1` RoleBinding is held to the same people. A binding of no tenant is
refused whatever it binds (impersonation): no platform kind renders one, and
mlcp's own identity would write it unchecked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from controlplane.rendering.context import TENANT_TRAINER_SA, TENANT_WORKLOAD_SA, deployer_account
from controlplane.rendering.manifests import RBAC_GROUP
from controlplane.rendering.roles import DEPLOYER_ROLE, PEOPLE_ROLES, TRAINER_ROLE, WORKLOAD_ROLE
from controlplane.specs import Tenant

BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})
"""What grants a role to someone, in the RBAC group (`binds`)."""


def binds(api_version: str, kind: str) -> bool:
    """Whether an object of `kind` at `api_version` grants a role: a RoleBinding or ClusterRoleBinding of any
    version of the RBAC group (a check matching `rbac.authorization.k8s.io/v1` alone misses `v1beta1`)."""
    return kind in BINDING_KINDS and api_version.partition("/")[0] == RBAC_GROUP


class Person(NamedTuple):
    """A user or group of a tenant with its role there (`admin` for owners, else the member's)."""

    kind: str
    name: str
    role: str


def people_of(tenant: Tenant) -> frozenset[Person]:
    owners = {Person("User", owner, "admin") for owner in tenant.spec.owners}
    return frozenset(owners | {Person(m.kind, m.name, m.role) for m in tenant.spec.members})


def people_in(membership: Mapping[str, Any]) -> frozenset[Person]:
    """The people of a TenantMembership governance object's manifest (governance._membership)."""
    owners = {Person("User", str(owner), "admin") for owner in membership.get("owners", [])}
    members = membership.get("members", [])
    return frozenset(owners | {Person(str(m.get("kind")), str(m.get("name")), str(m.get("role"))) for m in members})


def unbound(manifest: Mapping[str, Any] | None, people: Iterable[Person], namespace: str, home: str) -> list[str]:
    """Each subject of RoleBinding `manifest` (in `namespace`) that the tenant's trusted `people` and mlcp's own
    accounts do not give its role, said plainly; [] when every one is given."""
    if not isinstance(manifest, Mapping):
        return ["no manifest"]
    ref = manifest.get("roleRef") or {}
    if not isinstance(ref, Mapping) or ref.get("kind") != "ClusterRole" or ref.get("apiGroup") != RBAC_GROUP:
        return [f"roleRef {ref!r} is not one of the shipped ClusterRoles"]
    role = str(ref.get("name"))
    granted = {Person(p.kind, p.name, PEOPLE_ROLES[p.role]) for p in people if p.role in PEOPLE_ROLES}
    accounts = {
        (TENANT_WORKLOAD_SA, namespace, WORKLOAD_ROLE),
        (TENANT_TRAINER_SA, namespace, TRAINER_ROLE),
        (deployer_account(namespace), home, DEPLOYER_ROLE),
    }
    wrong = []
    for subject in manifest.get("subjects") or []:
        if not isinstance(subject, Mapping):
            wrong.append(f"subject {subject!r}")
            continue
        kind, name = str(subject.get("kind")), str(subject.get("name"))
        if kind == "ServiceAccount":
            if (name, str(subject.get("namespace")), role) not in accounts:
                wrong.append(f"ServiceAccount {subject.get('namespace')}/{name} to {role}")
        elif subject.get("apiGroup") != RBAC_GROUP or Person(kind, name, role) not in granted:
            wrong.append(f"{kind} {name!r} to {role}")
    return wrong


def subjects(manifest: Mapping[str, Any] | None) -> list[str]:
    """Each subject of binding `manifest` with the role it is bound to, said plainly (a refusal names them)."""
    if not isinstance(manifest, Mapping):
        return ["no manifest"]
    ref = manifest.get("roleRef")
    role = f"{ref.get('kind')} {ref.get('name')}" if isinstance(ref, Mapping) else repr(ref)
    said = []
    for subject in manifest.get("subjects") or []:
        if not isinstance(subject, Mapping):
            said.append(f"subject {subject!r} to {role}")
        elif subject.get("kind") == "ServiceAccount":
            said.append(f"ServiceAccount {subject.get('namespace')}/{subject.get('name')} to {role}")
        else:
            said.append(f"{subject.get('kind')} {subject.get('name')!r} to {role}")
    return said or [f"no one to {role}"]
