"""Tenant → Namespace, workload ServiceAccount and Role, RoleBindings for people, NetworkPolicy.

A tenant whose pipelines have a training step also gets the `mlcp-trainer`
account those steps run as: the one place where a Tenant's objects depend on
other specs of the tenant (its pipelines).

Owners become namespace admins; members get the role they are given, users and
groups alike. `adoptNamespace: true` marks the Namespace so the Kubernetes
backend lets it take over a namespace mlcp did not create (and records it as
adopted, never to be deleted); without it such a claim is refused there.
Isolation admits traffic only from the tenant's own namespace (plus any it
lists), which is what multi-tenant clusters expect by default. The namespace
carries the Pod Security Standards labels of the policy's `podSecurity`, set
after the tenant's own labels so they always win. Rendering alone uses the
policy of the repo it renders; the engine stamps them again from the trusted
base (`with_pod_security`), so a revision never lowers its own level.

Objects are built as plain manifests (see `rendering.manifests` for why).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, cast

from controlplane.labels import ADOPTED_ANNOTATION, POD_SECURITY_PREFIX, PROTECTION_ANNOTATION
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering.catalog import Resource
from controlplane.rendering.context import (
    DEPLOYER_CLUSTER_ROLE,
    TENANT_DEPLOYER_SA,
    TENANT_TRAINER_SA,
    TENANT_WORKLOAD_SA,
    RenderContext,
    desired,
    metadata,
)
from controlplane.rendering.manifests import RBAC_GROUP, RBAC_V1, manifest, policy_rule
from controlplane.rendering.registry import renders
from controlplane.specs import Tenant
from controlplane.specs.access_policy import PodSecurity

POD_SECURITY_MODES = ("enforce", "warn", "audit")
Rules = tuple[tuple[list[str], list[str], list[str]], ...]
WORKLOAD_RULES: Rules = (
    (["argoproj.io"], ["workflowtaskresults"], ["create", "patch"]),
    ([""], ["pods"], ["get", "watch", "patch"]),
)
"""What Argo's executor needs, granted to the tenant's workload ServiceAccount (so mlcp must hold it too)."""
TRAINER_RULES: Rules = (
    *WORKLOAD_RULES,
    (["trainer.kubeflow.org"], ["trainjobs"], ["create", "get"]),
)
"""The executor's needs plus what `argoexec resource create` does with a training step's TrainJob: create it,
then read it until a condition says it finished. No update, patch, delete or list: the Workflow owns the job."""
PRODUCES = (
    Resource(10, "", "v1", "Namespace", "namespaces", namespaced=False),
    Resource(20, "", "v1", "ServiceAccount", "serviceaccounts", namespaced=True),
    Resource(30, RBAC_GROUP, "v1", "Role", "roles", namespaced=True),
    Resource(31, RBAC_GROUP, "v1", "RoleBinding", "rolebindings", namespaced=True, grants_access=True),
    Resource(35, "networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", namespaced=True),
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
    meta["annotations"][PROTECTION_ANNOTATION] = "true" if tenant.spec.deletion_protection else "false"
    if tenant.spec.adopt_namespace:
        meta["annotations"][ADOPTED_ANNOTATION] = "true"  # the Kubernetes backend's review lets it take one over
    return manifest("v1", "Namespace", meta)


def _account(loaded: LoadedSpec, ctx: RenderContext, name: str, ns: str) -> dict[str, Any]:
    return manifest("v1", "ServiceAccount", metadata(loaded, ctx, name, ns))


def _service_account_subject(name: str, ns: str) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def _run_account(loaded: LoadedSpec, ctx: RenderContext, ns: str, name: str, rules: Rules) -> list[dict[str, Any]]:
    """A ServiceAccount pipelines run as, its Role of `rules` and the binding of the two."""
    role = manifest(RBAC_V1, "Role", metadata(loaded, ctx, name, ns), rules=[policy_rule(*rule) for rule in rules])
    binding = _binding(loaded, ctx, ns, name, "Role", name, [_service_account_subject(name, ns)])
    return [_account(loaded, ctx, name, ns), role, binding]


def _workload(loaded: LoadedSpec, ctx: RenderContext, ns: str) -> list[dict[str, Any]]:
    """The accounts pipelines run as: every container step as the workload account, with what Argo's executor
    needs; training steps (only Argo's executor runs in their pods) as the trainer, which may also create
    TrainJobs. Only a tenant with a training step gets the trainer: no account holds a right nothing uses."""
    accounts = _run_account(loaded, ctx, ns, TENANT_WORKLOAD_SA, WORKLOAD_RULES)
    if loaded.tenant in ctx.training_tenants:
        accounts += _run_account(loaded, ctx, ns, TENANT_TRAINER_SA, TRAINER_RULES)
    return accounts


def _deployer(loaded: LoadedSpec, ctx: RenderContext, ns: str) -> list[dict[str, Any]]:
    """The identity mlcp impersonates for this tenant's workloads, confined to its namespace."""
    subject = _service_account_subject(TENANT_DEPLOYER_SA, ns)
    binding = _binding(loaded, ctx, ns, TENANT_DEPLOYER_SA, "ClusterRole", DEPLOYER_CLUSTER_ROLE, [subject])
    return [_account(loaded, ctx, TENANT_DEPLOYER_SA, ns), binding]


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
    """Owners → admin; members grouped by role → admin/edit/view."""
    by_role: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for owner in tenant.spec.owners:
        by_role["admin"].append({"apiGroup": RBAC_GROUP, "kind": "User", "name": owner})
    for member in tenant.spec.members:
        by_role[member.role].append({"apiGroup": RBAC_GROUP, "kind": member.kind, "name": member.name})
    return [
        _binding(loaded, ctx, ns, f"mlcp-{role}", "ClusterRole", role, subjects)
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
