"""Tenant → Namespace, workload ServiceAccount and Role, RoleBindings for people, NetworkPolicy.

Owners become namespace admins; members get the role they are given, users and
groups alike. Isolation admits traffic only from the tenant's own namespace
(plus any it lists), which is what multi-tenant clusters expect by default.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

from kubernetes import client as k

from controlplane.labels import PROTECTION_ANNOTATION
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering import serialize
from controlplane.rendering.context import (
    DEPLOYER_CLUSTER_ROLE,
    TENANT_DEPLOYER_SA,
    TENANT_WORKLOAD_SA,
    RenderContext,
    desired,
    metadata,
)
from controlplane.rendering.registry import renders
from controlplane.specs import Tenant

RBAC_GROUP = "rbac.authorization.k8s.io"


def _meta(loaded: LoadedSpec, ctx: RenderContext, name: str, namespace: str | None) -> k.V1ObjectMeta:
    return k.V1ObjectMeta(**metadata(loaded, ctx, name, namespace))


def _namespace(loaded: LoadedSpec, ctx: RenderContext, tenant: Tenant) -> dict[str, Any]:
    meta = metadata(loaded, ctx, tenant.namespace, None, extra_labels=tenant.spec.labels)
    meta["annotations"][PROTECTION_ANNOTATION] = "true" if tenant.spec.deletion_protection else "false"
    return serialize.k8s(k.V1Namespace(api_version="v1", kind="Namespace", metadata=k.V1ObjectMeta(**meta)))


def _workload(loaded: LoadedSpec, ctx: RenderContext, ns: str) -> list[dict[str, Any]]:
    """The ServiceAccount pipelines run as, with what Argo's executor needs."""
    account = k.V1ServiceAccount(
        api_version="v1", kind="ServiceAccount", metadata=_meta(loaded, ctx, TENANT_WORKLOAD_SA, ns)
    )
    role = k.V1Role(
        api_version=f"{RBAC_GROUP}/v1",
        kind="Role",
        metadata=_meta(loaded, ctx, TENANT_WORKLOAD_SA, ns),
        rules=[
            k.V1PolicyRule(api_groups=["argoproj.io"], resources=["workflowtaskresults"], verbs=["create", "patch"]),
            k.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "watch", "patch"]),
        ],
    )
    binding = _binding(
        loaded,
        ctx,
        ns,
        TENANT_WORKLOAD_SA,
        "Role",
        TENANT_WORKLOAD_SA,
        [k.RbacV1Subject(kind="ServiceAccount", name=TENANT_WORKLOAD_SA, namespace=ns)],
    )
    return [serialize.k8s(account), serialize.k8s(role), binding]


def _deployer(loaded: LoadedSpec, ctx: RenderContext, ns: str) -> list[dict[str, Any]]:
    """The identity mlcp impersonates for this tenant's workloads, confined to its namespace."""
    account = k.V1ServiceAccount(
        api_version="v1", kind="ServiceAccount", metadata=_meta(loaded, ctx, TENANT_DEPLOYER_SA, ns)
    )
    subject = k.RbacV1Subject(kind="ServiceAccount", name=TENANT_DEPLOYER_SA, namespace=ns)
    binding = _binding(loaded, ctx, ns, TENANT_DEPLOYER_SA, "ClusterRole", DEPLOYER_CLUSTER_ROLE, [subject])
    return [serialize.k8s(account), binding]


def _binding(
    loaded: LoadedSpec,
    ctx: RenderContext,
    ns: str,
    name: str,
    role_kind: str,
    role: str,
    subjects: list[k.RbacV1Subject],
) -> dict[str, Any]:
    return serialize.k8s(
        k.V1RoleBinding(
            api_version=f"{RBAC_GROUP}/v1",
            kind="RoleBinding",
            metadata=_meta(loaded, ctx, name, ns),
            role_ref=k.V1RoleRef(api_group=RBAC_GROUP, kind=role_kind, name=role),
            subjects=subjects,
        )
    )


def _people(loaded: LoadedSpec, ctx: RenderContext, tenant: Tenant, ns: str) -> list[dict[str, Any]]:
    """Owners → admin; members grouped by role → admin/edit/view."""
    by_role: dict[str, list[k.RbacV1Subject]] = defaultdict(list)
    for owner in tenant.spec.owners:
        by_role["admin"].append(k.RbacV1Subject(kind="User", name=owner, api_group=RBAC_GROUP))
    for member in tenant.spec.members:
        by_role[member.role].append(k.RbacV1Subject(kind=member.kind, name=member.name, api_group=RBAC_GROUP))
    return [
        _binding(loaded, ctx, ns, f"mlcp-{role}", "ClusterRole", role, subjects)
        for role, subjects in sorted(by_role.items())
    ]


def _isolation(loaded: LoadedSpec, ctx: RenderContext, tenant: Tenant, ns: str) -> dict[str, Any]:
    sources = [ns, *tenant.spec.network_isolation.allow_from_namespaces]
    peers = [
        k.V1NetworkPolicyPeer(
            namespace_selector=k.V1LabelSelector(match_labels={"kubernetes.io/metadata.name": source})
        )
        for source in sources
    ]
    return serialize.k8s(
        k.V1NetworkPolicy(
            api_version="networking.k8s.io/v1",
            kind="NetworkPolicy",
            metadata=_meta(loaded, ctx, "mlcp-isolation", ns),
            spec=k.V1NetworkPolicySpec(
                pod_selector=k.V1LabelSelector(),
                policy_types=["Ingress"],
                ingress=[k.V1NetworkPolicyIngressRule(var_from=peers)],
            ),
        )
    )


@renders("Tenant")
def render_tenant(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    tenant = cast(Tenant, loaded.spec)
    ns = tenant.namespace
    manifests = [
        _namespace(loaded, ctx, tenant),
        *_workload(loaded, ctx, ns),
        *_deployer(loaded, ctx, ns),
        *_people(loaded, ctx, tenant, ns),
    ]
    if tenant.spec.network_isolation.enabled:
        manifests.append(_isolation(loaded, ctx, tenant, ns))
    return [desired(loaded, manifest) for manifest in manifests]
