"""AccessPolicy → the cluster half of its enforcement: the ClusterRole tenant deployers are bound to.

mlcp writes a tenant's workload objects while impersonating that tenant's
`mlcp-deployer` ServiceAccount, bound to this role only in the tenant's own
namespace. Even if the policy evaluation had a bug, the API server would refuse
a write into another tenant's namespace.
"""

from __future__ import annotations

from kubernetes import client as k

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering import serialize
from controlplane.rendering.context import DEPLOYER_CLUSTER_ROLE, RenderContext, desired, metadata
from controlplane.rendering.registry import renders

WORKLOAD_RESOURCES = (
    ("argoproj.io", ["workflowtemplates", "cronworkflows"]),
    ("kubeflow.org", ["experiments"]),
    ("serving.kserve.io", ["inferenceservices"]),
)
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]


@renders("AccessPolicy")
def render_deployer_role(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    role = k.V1ClusterRole(
        api_version="rbac.authorization.k8s.io/v1",
        kind="ClusterRole",
        metadata=k.V1ObjectMeta(**metadata(loaded, ctx, DEPLOYER_CLUSTER_ROLE, None)),
        rules=[
            k.V1PolicyRule(api_groups=[group], resources=resources, verbs=VERBS)
            for group, resources in WORKLOAD_RESOURCES
        ],
    )
    return [desired(loaded, serialize.k8s(role))]
