"""Tenant → Namespace, workload ServiceAccount and Role, RoleBindings for people, NetworkPolicy.

A tenant whose pipelines have a training step also gets the `mlcp-trainer`
account those steps run as: the one place where a Tenant's objects depend on
other specs of the tenant (its pipelines).

Owners are bound to mlcp's `mlcp-tenant-owner` ClusterRole; members to the
owner, member or viewer role their `role` (admin, edit, view) names, users and
groups alike (`rendering.roles`: never Kubernetes' own `admin` or `edit`, which
may act as any ServiceAccount of the namespace and grant rights to others).
The accounts pipelines run as are bound to the shipped `mlcp-workload` and
`mlcp-trainer` roles, and the identity mlcp impersonates for the tenant, which
lives in the controller namespace, to `mlcp-tenant-deployer`.

`adoptNamespace: true` marks the Namespace so the Kubernetes backend lets it
take over a namespace mlcp did not create (and records it as adopted, never to
be deleted); without it such a claim is refused there.
Isolation admits traffic only from the tenant's own namespace (plus any it
lists), which is what multi-tenant clusters expect by default. The namespace
carries the Pod Security Standards labels of the policy's `podSecurity`, set
after the tenant's own labels so they always win. Rendering alone uses the
policy of the repo it renders; the engine stamps them again from the trusted
base (`with_pod_security`), so a revision never lowers its own level. It also
carries Katib's metrics-collector-injection label on every tenant namespace,
whether or not the tenant tunes today: Katib's pod webhook selects namespaces
by it, and deciding it from the tenant's experiments would make an experiment
change a change of the Namespace, which is authorized as the Tenant.

Objects are built as plain manifests (see `rendering.manifests` for why).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, cast

from controlplane.labels import (
    ADOPTED_ANNOTATION,
    KATIB_INJECTION_LABEL,
    POD_SECURITY_PREFIX,
    PROTECTION_ANNOTATION,
)
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering.catalog import Resource
from controlplane.rendering.context import (
    DEPLOYER_BINDING,
    DEPLOYER_HOME,
    TENANT_TRAINER_SA,
    TENANT_WORKLOAD_SA,
    RenderContext,
    deployer_account,
    desired,
    metadata,
)
from controlplane.rendering.manifests import RBAC_GROUP, RBAC_V1, manifest
from controlplane.rendering.registry import renders
from controlplane.rendering.roles import DEPLOYER_ROLE, PEOPLE_ROLES, TRAINER_ROLE, WORKLOAD_ROLE
from controlplane.specs import Tenant
from controlplane.specs.access_policy import PodSecurity

POD_SECURITY_MODES = ("enforce", "warn", "audit")
PRODUCES = (
    Resource(10, "", "v1", "Namespace", "namespaces", namespaced=False, bounds_tenant=True),
    Resource(20, "", "v1", "ServiceAccount", "serviceaccounts", namespaced=True, bounds_tenant=True),
    # No Role is rendered any more; declared so that the per-tenant Roles of earlier versions (`mlcp-workload`,
    # `mlcp-trainer`) stay mlcp's to prune.
    Resource(30, RBAC_GROUP, "v1", "Role", "roles", namespaced=True, bounds_tenant=True),
    Resource(
        31, RBAC_GROUP, "v1", "RoleBinding", "rolebindings", namespaced=True, grants_access=True, bounds_tenant=True
    ),
    Resource(35, "networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", namespaced=True, bounds_tenant=True),
)


def pod_security_labels(rules: PodSecurity, tenant: str | None) -> dict[str, str]:
    """`enforce`, `warn` and `audit` at the tenant's level, each with the standards' version."""
    level = rules.level_of(tenant)
    labels: dict[str, str] = {}
    for mode in POD_SECURITY_MODES:
        labels[f"{POD_SECURITY_PREFIX}{mode}"] = level
        labels[f"{POD_SECURITY_PREFIX}{mode}-version"] = rules.version
    return labels


def pod_security_rules(ctx: RenderContext) -> PodSecurity:
    """The rendered repo's own rules (the defaults without a policy)."""
    policy = ctx.access_policy
    return policy.spec.pod_security if policy is not None else PodSecurity()


def with_pod_security(objects: Iterable[DesiredObject], rules: PodSecurity) -> list[DesiredObject]:
    """`objects` with every tenant namespace labelled by `rules` (the trusted base's), overriding any other."""
    out = []
    for obj in objects:
        if obj.ref.kind == "Namespace" and obj.spec.kind == "Tenant":
            meta = obj.manifest["metadata"]
            labels = {**meta.get("labels", {}), **pod_security_labels(rules, obj.tenant)}
            if labels != meta.get("labels"):
                obj = replace(obj, manifest={**obj.manifest, "metadata": {**meta, "labels": labels}})  # noqa: PLW2901
        out.append(obj)
    return out


def _namespace(loaded: LoadedSpec, ctx: RenderContext, tenant: Tenant) -> dict[str, Any]:
    meta = metadata(loaded, ctx, tenant.namespace, None, extra_labels=tenant.spec.labels)
    meta["labels"].update(pod_security_labels(pod_security_rules(ctx), loaded.tenant))  # last: mlcp's win
    meta["labels"][KATIB_INJECTION_LABEL] = "enabled"  # trials report metrics (labels.KATIB_INJECTION_LABEL)
    meta["annotations"][PROTECTION_ANNOTATION] = "true" if tenant.spec.deletion_protection else "false"
    if tenant.spec.adopt_namespace:
        meta["annotations"][ADOPTED_ANNOTATION] = "true"  # the Kubernetes backend's review lets it take one over
    return manifest("v1", "Namespace", meta)


def _account(loaded: LoadedSpec, ctx: RenderContext, name: str, ns: str) -> dict[str, Any]:
    return manifest("v1", "ServiceAccount", metadata(loaded, ctx, name, ns))


def _service_account_subject(name: str, ns: str) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def _run_account(loaded: LoadedSpec, ctx: RenderContext, ns: str, name: str, role: str) -> list[dict[str, Any]]:
    """A ServiceAccount pipelines run as and its binding to the shipped ClusterRole `role`."""
    binding = _binding(loaded, ctx, ns, name, "ClusterRole", role, [_service_account_subject(name, ns)])
    return [_account(loaded, ctx, name, ns), binding]


def _workload(loaded: LoadedSpec, ctx: RenderContext, ns: str) -> list[dict[str, Any]]:
    """The accounts pipelines run as: every container step as the workload account, with what Argo's executor
    needs; training steps (only Argo's executor runs in their pods) as the trainer, which may also create
    TrainJobs. Only a tenant with a training step gets the trainer: no account holds a right nothing uses."""
    accounts = _run_account(loaded, ctx, ns, TENANT_WORKLOAD_SA, WORKLOAD_ROLE)
    if loaded.tenant in ctx.training_tenants:
        accounts += _run_account(loaded, ctx, ns, TENANT_TRAINER_SA, TRAINER_ROLE)
    return accounts


def _deployer(loaded: LoadedSpec, ctx: RenderContext, ns: str) -> list[dict[str, Any]]:
    """The identity mlcp impersonates for this tenant's workloads, bound only in its namespace. The account is
    named in the controller namespace (`context.deployer_account`), where no member can run anything as it."""
    subject = _service_account_subject(deployer_account(ns), DEPLOYER_HOME)
    return [_binding(loaded, ctx, ns, DEPLOYER_BINDING, "ClusterRole", DEPLOYER_ROLE, [subject])]


def with_deployer_home(objects: Iterable[DesiredObject], home: str) -> list[DesiredObject]:
    """`objects` with each tenant's deployer binding naming its account in `home`, the operator's controller
    namespace (where mlcp impersonates it), instead of the default rendering assumes."""
    out = []
    for obj in objects:
        if obj.spec.kind == "Tenant" and obj.ref.kind == "RoleBinding" and obj.ref.name == DEPLOYER_BINDING:
            subjects = [{**s, "namespace": home} for s in obj.manifest["subjects"]]
            if subjects != obj.manifest["subjects"]:
                obj = replace(obj, manifest={**obj.manifest, "subjects": subjects})  # noqa: PLW2901
        out.append(obj)
    return out


def _binding(
    loaded: LoadedSpec,
    ctx: RenderContext,
    ns: str,
    name: str,
    role_kind: str,
    role: str,
    subjects: list[dict[str, Any]],
) -> dict[str, Any]:
    return manifest(
        RBAC_V1,
        "RoleBinding",
        metadata(loaded, ctx, name, ns),
        roleRef={"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role},
        subjects=subjects,
    )


def _people(loaded: LoadedSpec, ctx: RenderContext, tenant: Tenant, ns: str) -> list[dict[str, Any]]:
    """Owners → `mlcp-admin` (bound to mlcp-tenant-owner); members grouped by role → mlcp-admin/edit/view, each
    bound to mlcp's role for it (`roles.PEOPLE_ROLES`). The binding names are those of earlier versions, which
    bound Kubernetes' own roles: the backend replaces a binding whose roleRef changed (it cannot be updated)."""
    by_role: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for owner in tenant.spec.owners:
        by_role["admin"].append({"apiGroup": RBAC_GROUP, "kind": "User", "name": owner})
    for member in tenant.spec.members:
        by_role[member.role].append({"apiGroup": RBAC_GROUP, "kind": member.kind, "name": member.name})
    return [
        _binding(loaded, ctx, ns, f"mlcp-{role}", "ClusterRole", PEOPLE_ROLES[role], subjects)
        for role, subjects in sorted(by_role.items())
    ]


def _isolation(loaded: LoadedSpec, ctx: RenderContext, tenant: Tenant, ns: str) -> dict[str, Any]:
    """Ingress only from pods in the listed namespaces; `podSelector: {}` selects every pod of the tenant."""
    sources = [ns, *tenant.spec.network_isolation.allow_from_namespaces]
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": source}}} for source in sources]
    spec = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": peers}]}
    return manifest("networking.k8s.io/v1", "NetworkPolicy", metadata(loaded, ctx, "mlcp-isolation", ns), spec=spec)


@renders("Tenant", *PRODUCES)
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
    return [desired(loaded, item) for item in manifests]
