"""AccessPolicy → the cluster half of its enforcement: the ClusterRole tenant deployers are bound to.

mlcp writes a tenant's workload objects while impersonating that tenant's
`mlcp-deployer` ServiceAccount, bound to this role only in the tenant's own
namespace. Even if the policy evaluation had a bug, the API server would refuse
a write into another tenant's namespace.
"""

from __future__ import annotations

from typing import Any

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering import catalog
from controlplane.rendering.catalog import Resource
from controlplane.rendering.context import DEPLOYER_CLUSTER_ROLE, RenderContext, desired, metadata
from controlplane.rendering.manifests import RBAC_GROUP, RBAC_V1, manifest, policy_rule
from controlplane.rendering.registry import renders

CLUSTER_ROLE = Resource(25, RBAC_GROUP, "v1", "ClusterRole", "clusterroles", namespaced=False)
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]


def deployer_rules() -> list[dict[str, Any]]:
    """One rule per API group over every resource a tenant workload kind declares, and what its Roles grant."""
    rules = [policy_rule([group], plurals, VERBS) for group, plurals in catalog.by_group(catalog.workload_resources())]
    return rules + [policy_rule([g.group], [g.resource], list(g.verbs)) for g in catalog.granted(workload_only=True)]


@renders("AccessPolicy", CLUSTER_ROLE)
def render_deployer_role(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    rules = deployer_rules()
    role = manifest(RBAC_V1, "ClusterRole", metadata(loaded, ctx, DEPLOYER_CLUSTER_ROLE, None), rules=rules)
    return [desired(loaded, role)]
