"""AccessPolicy → the cluster half of its enforcement: the ClusterRole tenant deployers are bound to.

mlcp writes a tenant's workload objects while impersonating that tenant's
`mlcp-deployer` ServiceAccount, bound to this role only in the tenant's own
namespace. Even if the policy evaluation had a bug, the API server would refuse
a write into another tenant's namespace.
"""

from __future__ import annotations

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering.context import DEPLOYER_CLUSTER_ROLE, RenderContext, desired, metadata
from controlplane.rendering.manifests import RBAC_V1, manifest, policy_rule
from controlplane.rendering.registry import renders

WORKLOAD_RESOURCES = (
    ("argoproj.io", ["workflowtemplates", "cronworkflows"]),
    ("kubeflow.org", ["experiments"]),
    ("serving.kserve.io", ["inferenceservices"]),
)
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]


@renders("AccessPolicy")
def render_deployer_role(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    rules = [policy_rule([group], resources, VERBS) for group, resources in WORKLOAD_RESOURCES]
    role = manifest(RBAC_V1, "ClusterRole", metadata(loaded, ctx, DEPLOYER_CLUSTER_ROLE, None), rules=rules)
    return [desired(loaded, role)]
