"""Tenant: a team's slice of the platform (namespace, people, isolation).

Everything else a team declares (quotas, pipelines, experiments, promotions)
hangs off a Tenant, and the access policy's `@own` scope is computed from its
owners and `admin`/`edit` members (a `view` member only reads).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controlplane.specs.base import Spec, register
from controlplane.specs.kube_syntax import DnsLabel
from controlplane.specs.metadata import Labels
from controlplane.specs.model import Person, SpecModel

WRITING_ROLES = frozenset({"admin", "edit"})
"""Member roles that may change the tenant (its specs in git, code run as it); `view` only reads."""


class Member(SpecModel):
    """A person or group with a role inside the tenant's namespace."""

    name: Person = Field(
        description="User identity (usually an email) or group name; never one of Kubernetes' own (`system:...`)."
    )
    kind: Literal["User", "Group"] = Field(default="User", description="`User` or `Group`.")
    role: Literal["admin", "edit", "view"] = Field(
        default="edit",
        description=(
            "What the member may do in the tenant namespace: admin (mlcp's mlcp-tenant-owner ClusterRole), edit "
            "(mlcp-tenant-member: run pipelines) or view (mlcp-tenant-viewer). Never Kubernetes' own admin or edit."
        ),
    )


class NetworkIsolation(SpecModel):
    """Whether only the tenant's own namespace (and listed ones) may reach its pods."""

    enabled: bool = Field(default=True, description="Render a NetworkPolicy isolating the namespace.")
    allow_from_namespaces: list[DnsLabel] = Field(
        default_factory=list,
        description="Other namespaces admitted anyway (e.g. an ingress or monitoring namespace).",
    )


class TenantSpec(SpecModel):
    display_name: str | None = Field(default=None, description="Human-readable tenant name.")
    owners: list[Person] = Field(
        min_length=1,
        description=(
            "Users (git identities, usually emails) who own the tenant; bound to mlcp's mlcp-tenant-owner "
            "ClusterRole in the namespace."
        ),
    )
    members: list[Member] = Field(default_factory=list, description="Other users and groups.")
    namespace: DnsLabel | None = Field(default=None, description="Kubernetes namespace; defaults to the tenant's name.")
    labels: Labels = Field(
        default_factory=dict,
        description="Extra labels on the namespace; not `pod-security.kubernetes.io/*` (the AccessPolicy sets those) "
        "nor Katib's (`katib.kubeflow.org/*`: mlcp enables its metrics collector on every tenant namespace).",
    )
    network_isolation: NetworkIsolation = Field(
        default_factory=NetworkIsolation, description="Namespace network isolation."
    )
    deletion_protection: bool = Field(
        default=True,
        description="When true, mlcp never deletes the tenant's namespace, even with --prune.",
    )
    adopt_namespace: bool = Field(
        default=False,
        description=(
            "Let mlcp take over a namespace that already exists but that mlcp did not create (its labels, "
            "RoleBindings and the rest are then mlcp's). Without it such a tenant is refused. An adopted "
            "namespace is never deleted by mlcp. Never the controller namespace, a reserved one or another "
            "tenant's. Where the deployment's admission policies are installed, a cluster admin labels the "
            "namespace mlcp.dev/adoptable=true first (the controller may change no other namespace it did not "
            "make)."
        ),
    )


@register
class Tenant(Spec):
    """A team: namespace, owners and members, isolation and deletion protection."""

    kind: Literal["Tenant"] = "Tenant"
    workload = False
    spec: TenantSpec
    folder = "tenants/<tenant>/tenant.yaml"

    @property
    def namespace(self) -> str:
        return self.spec.namespace or self.metadata.name

    def identities(self) -> set[str]:
        """Every user named as owner or member (groups excluded)."""
        users = {m.name for m in self.spec.members if m.kind == "User"}
        return users | set(self.spec.owners)

    def writers(self) -> set[str]:
        """The users who may change the tenant: owners and `admin`/`edit` members (groups excluded).

        A `view` member reads; the AccessPolicy's `@own` and a notebook (which runs code as the tenant) are for
        writers only, or a read-only person could change the pipelines the tenant's account runs."""
        users = {m.name for m in self.spec.members if m.kind == "User" and m.role in WRITING_ROLES}
        return users | set(self.spec.owners)

    def writer_groups(self) -> set[str]:
        """The groups whose members may change the tenant (`admin`/`edit` group members)."""
        return {m.name for m in self.spec.members if m.kind == "Group" and m.role in WRITING_ROLES}
