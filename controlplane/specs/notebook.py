"""Notebook: a Jupyter workspace for a tenant, run by Kubeflow's notebook-controller.

A tenant's members get a notebook server with fixed CPU, memory and GPUs and a
workspace volume that outlives the server. The resources are checked against
the tenant's Quota here, so a notebook that alone could never start is refused
at review with the quota named, not left Pending in the cluster. Who may use it
is a list of the tenant's own people (default: all of them); nobody else.

Idle culling is the notebook-controller's, set once for the cluster
(`ENABLE_CULLING`, `CULL_IDLE_TIME`): the controller has no per-notebook
setting. It records activity in `notebooks.kubeflow.org/last-activity` and culls
by setting `kubeflow-resource-stopped`; mlcp never writes either, so culling is
not drift. `stopped: true` stops a notebook from git (it sets that annotation).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal, cast

from pydantic import AfterValidator, Field

from controlplane import imagerefs
from controlplane.specs import resources
from controlplane.specs.base import Finding, NameRule, Spec, TenantSpecs, register
from controlplane.specs.kube_syntax import DnsSubdomain
from controlplane.specs.model import NonEmptyStr, SpecModel
from controlplane.specs.quota import Asked, Quota, limit_range_findings
from controlplane.specs.resources import Quantity
from controlplane.specs.tenant import Tenant

GPU_RESOURCE = "nvidia.com/gpu"
NOTEBOOK_NAME_MAX = 63 - len("-") - 10
"""The longest Notebook name: its StatefulSet's revision label `<name>-<hash>` holds at most 63 characters."""


def _image(value: str) -> str:
    problem = imagerefs.problem(value)
    if problem is not None:
        raise ValueError(f"image {value!r}: {problem}")
    return value


ImageRef = Annotated[str, Field(min_length=1), AfterValidator(_image)]


class NotebookResources(SpecModel):
    """What the notebook server gets, requested and limited alike (a notebook is never overcommitted)."""

    cpu: Quantity = Field(default="1", description="CPU cores, e.g. `2` or `500m`.")
    memory: Quantity = Field(default="4Gi", description="Memory, e.g. `8Gi`.")
    gpu: int = Field(default=0, ge=0, le=16, description=f"GPUs (`{GPU_RESOURCE}`).")


class Workspace(SpecModel):
    """A PersistentVolumeClaim mounted as the home directory; it survives restarts and culling."""

    size: Quantity = Field(default="10Gi", description="Requested storage.")
    storage_class: DnsSubdomain | None = Field(default=None, description="StorageClass; the cluster default if unset.")
    mount_path: str = Field(
        default="/home/jovyan", pattern=r"^/[^:]*$", description="Where it is mounted (Jupyter's home by default)."
    )


class NotebookSpec(SpecModel):
    image: ImageRef = Field(description="Jupyter server image, e.g. `kubeflownotebookswg/jupyter-scipy:v1.9.0`.")
    resources: NotebookResources = Field(default_factory=NotebookResources, description="CPU, memory and GPUs.")
    workspace: Workspace = Field(default_factory=Workspace, description="The workspace volume.")
    users: list[NonEmptyStr] = Field(
        default_factory=list,
        description=(
            "Who may use it: owners or `admin`/`edit` members (users) of the tenant (a notebook runs code as the "
            "tenant, so never a `view` member); empty means all of them."
        ),
    )
    stopped: bool = Field(default=False, description="Stop the server (the workspace is kept).")


QUOTA_KEYS: dict[str, tuple[str, ...]] = {
    "cpu": ("cpu", "requests.cpu", "limits.cpu"),
    "memory": ("memory", "requests.memory", "limits.memory"),
    "gpu": (f"requests.{GPU_RESOURCE}", f"limits.{GPU_RESOURCE}"),
    "size": ("requests.storage",),
}
"""Quota keys each notebook field counts against (requests equal limits, so both apply)."""


@register
class Notebook(Spec):
    """A Jupyter notebook server with a persistent workspace, for some of the tenant's people."""

    kind: Literal["Notebook"] = "Notebook"
    spec: NotebookSpec
    folder = "tenants/<tenant>/notebooks/<name>.yaml"
    name_rules = (
        NameRule("the notebook-controller's Service `<name>` must be a DNS-1035 label, or it is never created", True),
        NameRule(
            "the notebook-controller's StatefulSet labels its pod `controller-revision-hash: <name>-<hash>` (a hash "
            "of up to 10 characters, a label value of at most 63), or the pod is never created",
            max_length=NOTEBOOK_NAME_MAX,
        ),
    )

    def cross_checks(self, tenant: TenantSpecs) -> Iterable[Finding]:
        yield from self._within_quota(tenant)
        yield from limit_range_findings(tenant, self._container(), "the notebook server")
        tenants = [cast(Tenant, t) for t in tenant.of_kind("Tenant")]
        people = set().union(*(t.identities() for t in tenants))
        writers = set().union(*(t.writers() for t in tenants))
        for i, user in enumerate(self.spec.users):
            if people and user not in people:
                yield Finding(
                    ("spec", "users", i),
                    f"{user!r} is not an owner or member of tenant {tenant.tenant!r}",
                    "add them to the tenant's members first, or remove them here",
                    "notebook-users",
                )
            elif people and user not in writers:
                yield Finding(
                    ("spec", "users", i),
                    f"{user!r} is a `view` member of tenant {tenant.tenant!r}: a notebook runs code as the tenant",
                    "give them role edit in the Tenant first, or remove them here",
                    "notebook-users",
                )

    def _container(self) -> Asked:
        asked: dict[str, tuple[tuple[str | int, ...], str]] = {
            "cpu": (("spec", "resources", "cpu"), self.spec.resources.cpu),
            "memory": (("spec", "resources", "memory"), self.spec.resources.memory),
        }
        if self.spec.resources.gpu:
            asked[GPU_RESOURCE] = (("spec", "resources", "gpu"), str(self.spec.resources.gpu))
        return asked

    def _within_quota(self, tenant: TenantSpecs) -> Iterable[Finding]:
        asked: dict[str, tuple[tuple[str, ...], str]] = {
            "cpu": (("spec", "resources", "cpu"), self.spec.resources.cpu),
            "memory": (("spec", "resources", "memory"), self.spec.resources.memory),
            "gpu": (("spec", "resources", "gpu"), str(self.spec.resources.gpu)),
            "size": (("spec", "workspace", "size"), self.spec.workspace.size),
        }
        for quota in tenant.of_kind("Quota"):
            hard = cast(Quota, quota).spec.hard
            for field, (path, written) in asked.items():
                for key in QUOTA_KEYS[field]:
                    if key in hard and resources.parse(written) > resources.parse(hard[key]):
                        yield Finding(
                            path,
                            f"the notebook alone needs {path[-1]} {written}, more than the tenant's "
                            f"quota {quota.name!r} allows ({key}: {hard[key]})",
                            f"ask for at most {hard[key]}, or raise {key} in the tenant's quota",
                            "quota",
                        )
