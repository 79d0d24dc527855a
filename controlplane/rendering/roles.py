"""The ClusterRoles a tenant's RoleBindings refer to: fixed, shipped in deploy/, never written by mlcp.

People, the accounts pipelines run as and the identity mlcp impersonates for a
tenant are each bound, in the tenant's namespace, to one of these roles. They
are mlcp's own rather than Kubernetes' built-in `admin` and `edit`, which may
impersonate, mint tokens for and run pods as every ServiceAccount of the
namespace and write its RoleBindings: a member bound to `edit` could act as
whatever account mlcp trusted in the namespace and grant rights to anyone.
No role here holds impersonation, ServiceAccount tokens, `pods/exec`,
Secrets, RBAC writes, or writes on the NetworkPolicy, ResourceQuota and
LimitRange mlcp keeps in the namespace.

They are shipped (deploy/kustomize/base/tenant-roles.yaml, `make rbac`) so
that mlcp binds them with `bind` restricted to their names and never needs to
hold what they grant: a ClusterRole mlcp wrote itself would have to be within
its own rights, which made mlcp's token the union of every tenant's.
"""

from __future__ import annotations

from typing import Any

from controlplane.rendering import catalog
from controlplane.rendering.manifests import RBAC_V1, manifest, policy_rule

Rule = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
"""(apiGroups, resources, verbs)."""
READ = ("get", "list", "watch")
DEPLOYER_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")

OWNER_ROLE = "mlcp-tenant-owner"
MEMBER_ROLE = "mlcp-tenant-member"
VIEWER_ROLE = "mlcp-tenant-viewer"
DEPLOYER_ROLE = "mlcp-tenant-deployer"
"""What a tenant's deployer may do in its own namespace: the workload kinds mlcp renders, nothing else."""
WORKLOAD_ROLE = "mlcp-workload"
TRAINER_ROLE = "mlcp-trainer"

PEOPLE_ROLES = {"admin": OWNER_ROLE, "edit": MEMBER_ROLE, "view": VIEWER_ROLE}
"""A Tenant's `role` of a member (owners are `admin`) → the ClusterRole bound to them."""

WORKLOAD_RULES: tuple[Rule, ...] = ((("argoproj.io",), ("workflowtaskresults",), ("create", "patch")),)
"""What Argo's executor (emissary, Argo 3.4 and later) needs: it reports a step's outputs as a
WorkflowTaskResult. Nothing on pods: `patch` on pods let a step rewrite the image of any pod of the namespace,
the training step's (which runs as `mlcp-trainer`) included."""
TRAINER_RULES: tuple[Rule, ...] = (
    *WORKLOAD_RULES,
    (("trainer.kubeflow.org",), ("trainjobs",), ("create", "get")),
)
"""The executor's needs plus what `argoexec resource create` does with a training step's TrainJob: create it,
then read it until a condition says it finished. No update, patch, delete or list: the Workflow owns the job."""

_SEEN: tuple[Rule, ...] = (
    (("",), ("pods", "pods/log", "events", "services", "configmaps", "serviceaccounts"), READ),
    (("",), ("resourcequotas", "limitranges"), READ),
    (("networking.k8s.io",), ("networkpolicies",), READ),
    (("argoproj.io",), ("workflows", "workflowtaskresults"), READ),
    (("kubeflow.org",), ("trials", "suggestions"), READ),
)
"""What people read beyond the objects mlcp renders for them: runs, their pods and logs, a tuning's trials (Katib
keeps each trial's parameters and metrics there, the Experiment only the best), the namespace's limits."""
_RUNS: tuple[Rule, ...] = (
    (("argoproj.io",), ("workflows",), ("create", "update", "patch", "delete")),
    (("",), ("pods",), ("delete",)),
)
"""Start, stop, retry and remove runs of the tenant's pipelines (`mlcp run`, `argo submit`, `argo retry`, which
deletes the failed steps' pods before it starts them again, and is refused without `delete` on pods). A person's
run names a governed template and its parameters only (`rendering.admission`)."""
_CLEANUP: tuple[Rule, ...] = ((("argoproj.io",), ("workflows",), ("deletecollection",)),)
"""An owner clears old runs in bulk."""


def _workload_reads() -> tuple[Rule, ...]:
    """Read on everything a tenant workload kind renders (so a kind declared later is readable with it)."""
    declared = catalog.by_group(catalog.workload_resources())
    return tuple(((group,), tuple(plurals), READ) for group, plurals in declared)


def _rules(rules: tuple[Rule, ...]) -> list[dict[str, Any]]:
    return [policy_rule(list(groups), list(resources), list(verbs)) for groups, resources, verbs in rules]


def deployer_rules() -> list[dict[str, Any]]:
    """Every resource a tenant workload kind declares, and what the Roles it renders grant."""
    written = [((g,), tuple(p), DEPLOYER_VERBS) for g, p in catalog.by_group(catalog.workload_resources())]
    granted = [((g.group,), (g.resource,), g.verbs) for g in catalog.granted(workload_only=True)]
    return _rules((*written, *granted))


def rules() -> dict[str, list[dict[str, Any]]]:
    """Each shipped ClusterRole's rules, by name (derived from the kinds' declarations where they matter)."""
    viewer = (*_workload_reads(), *_SEEN)
    member = (*viewer, *_RUNS)
    return {
        VIEWER_ROLE: _rules(viewer),
        MEMBER_ROLE: _rules(member),
        OWNER_ROLE: _rules((*member, *_CLEANUP)),
        DEPLOYER_ROLE: deployer_rules(),
        WORKLOAD_ROLE: _rules(WORKLOAD_RULES),
        TRAINER_ROLE: _rules(TRAINER_RULES),
    }


def cluster_roles() -> list[dict[str, Any]]:
    """The shipped ClusterRoles as manifests."""
    meta = {"labels": {"app.kubernetes.io/part-of": "mlcp"}}
    return [
        manifest(RBAC_V1, "ClusterRole", {"name": name, **meta}, rules=granted) for name, granted in rules().items()
    ]
