"""Notebook → Kubeflow `Notebook` (kubeflow.org/v1), its workspace PVC, and a Role for the people who may use it.

The notebook-controller runs the server as a StatefulSet of one pod,
`<name>-0`, behind a Service `<name>`. Using it takes RBAC in the tenant's
namespace: `get` on the Notebook and a port-forward to its pod (what
`kubectl port-forward pod/<name>-0 8888` needs), granted by the Role
`mlcp-notebook-<name>` to exactly the users the spec lists (default: the
tenant's owners and members). The Role, like everything of a workload kind,
is written as the tenant's confined deployer, which therefore holds what the
Role grants (`grants`: RBAC lets nobody grant more than they hold).

The RoleBinding names the tenant's people as the revision has them (the
spec's `users` are checked against them), so it is declared as naming people
(`people=`): its change goes ahead only with the tenant's membership change
(reconciler/tenantbound.py), never for a member the base's policy refused.

Pruning a Notebook spec deletes its workspace PVC with it (only with
`--prune`, like every delete): the data goes with the spec.
"""

from __future__ import annotations

from typing import Any, cast

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering.catalog import Grant, Resource
from controlplane.rendering.context import RenderContext, desired, metadata
from controlplane.rendering.manifests import RBAC_GROUP, RBAC_V1, manifest
from controlplane.rendering.registry import renders
from controlplane.specs.notebook import GPU_RESOURCE, Notebook

NOTEBOOK = Resource(55, "kubeflow.org", "v1", "Notebook", "notebooks", True)
PVC = Resource(45, "", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True)
ROLE = Resource(56, RBAC_GROUP, "v1", "Role", "roles", True, bounds_tenant=True)
ROLE_BINDING = Resource(
    57, RBAC_GROUP, "v1", "RoleBinding", "rolebindings", True, grants_access=True, bounds_tenant=True
)
"""After the tenant's own RoleBindings (31), which let the tenant's deployer write these."""
USE = (
    Grant("", "pods", ("get",)),
    Grant("", "pods/portforward", ("create",)),
    Grant("kubeflow.org", "notebooks", ("get",)),
)
STOPPED_ANNOTATION = "kubeflow-resource-stopped"
"""Set by the notebook-controller's culler (or by mlcp for `stopped: true`): the server is scaled to zero."""
WORKSPACE_VOLUME = "workspace"


def _pvc(loaded: LoadedSpec, ctx: RenderContext, notebook: Notebook, ns: str) -> dict[str, Any]:
    workspace = notebook.spec.workspace
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": workspace.size}}}
    if workspace.storage_class is not None:
        spec["storageClassName"] = workspace.storage_class
    return manifest("v1", "PersistentVolumeClaim", metadata(loaded, ctx, f"{notebook.name}-workspace", ns), spec=spec)


def notebook_manifest(loaded: LoadedSpec, ctx: RenderContext, notebook: Notebook, ns: str) -> dict[str, Any]:
    """The Kubeflow Notebook: one container named after the notebook (the controller expects it)."""
    limits: dict[str, str] = {"cpu": notebook.spec.resources.cpu, "memory": notebook.spec.resources.memory}
    if notebook.spec.resources.gpu:
        limits[GPU_RESOURCE] = str(notebook.spec.resources.gpu)
    container = {
        "name": notebook.name,
        "image": notebook.spec.image,
        "resources": {"requests": dict(limits), "limits": limits},
        "volumeMounts": [{"name": WORKSPACE_VOLUME, "mountPath": notebook.spec.workspace.mount_path}],
    }
    volume = {"name": WORKSPACE_VOLUME, "persistentVolumeClaim": {"claimName": f"{notebook.name}-workspace"}}
    meta = metadata(loaded, ctx, notebook.name, ns)
    if notebook.spec.stopped:
        meta["annotations"][STOPPED_ANNOTATION] = "mlcp"
    template = {"spec": {"containers": [container], "volumes": [volume]}}
    return manifest(NOTEBOOK.api_version, NOTEBOOK.kind, meta, spec={"template": template})


def _access(loaded: LoadedSpec, ctx: RenderContext, notebook: Notebook, ns: str) -> list[dict[str, Any]]:
    name = f"mlcp-notebook-{notebook.name}"
    pod = f"{notebook.name}-0"
    rules = [
        {"apiGroups": ["kubeflow.org"], "resources": ["notebooks"], "resourceNames": [notebook.name], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods"], "resourceNames": [pod], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/portforward"], "resourceNames": [pod], "verbs": ["create"]},
    ]
    tenant = ctx.tenant(loaded.tenant)
    users = notebook.spec.users or sorted(tenant.writers())
    subjects = [{"apiGroup": RBAC_GROUP, "kind": "User", "name": user} for user in users]
    role = manifest(RBAC_V1, "Role", metadata(loaded, ctx, name, ns), rules=rules)
    binding = manifest(
        RBAC_V1,
        "RoleBinding",
        metadata(loaded, ctx, name, ns),
        roleRef={"apiGroup": RBAC_GROUP, "kind": "Role", "name": name},
        subjects=subjects,
    )
    return [role, binding]


@renders("Notebook", PVC, NOTEBOOK, ROLE, ROLE_BINDING, grants=USE, people=(ROLE_BINDING.kind,))
def render_notebook(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    notebook = cast(Notebook, loaded.spec)
    ns = ctx.namespace(loaded.tenant)
    manifests = [
        _pvc(loaded, ctx, notebook, ns),
        notebook_manifest(loaded, ctx, notebook, ns),
        *_access(loaded, ctx, notebook, ns),
    ]
    return [desired(loaded, item) for item in manifests]
