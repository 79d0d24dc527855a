"""What renderers share: the repo being rendered, label conventions and apply ranks.

Every rendered object carries the same labels so live state is found with one
label selector per kind, and the same annotations so a person looking at an
object in the cluster can find the spec (and commit) it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

from controlplane.labels import COMMIT_ANNOTATION, MANAGED_BY, MANAGER, SOURCE_ANNOTATION, SPEC_LABEL, TENANT_LABEL
from controlplane.loading.repo import ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject, ObjectRef
from controlplane.rendering import catalog
from controlplane.specs import AccessPolicy, Pipeline, Tenant
from controlplane.specs.pipeline_training import TrainingStep

RANK_ORDER = catalog.RANKS
"""Apply order by object kind, lowest first (the reverse deletes), from the kinds' declarations."""
ACCESS_KINDS = catalog.ACCESS
"""(apiVersion, kind) of the objects that give people access (`catalog.ACCESS`): revoked even with prune off."""

TENANT_WORKLOAD_SA = "mlcp-workload"
"""ServiceAccount the tenant's pipelines run as (no pipeline field names another)."""

TENANT_TRAINER_SA = "mlcp-trainer"
"""ServiceAccount of a pipeline's training steps only: Argo's executor creating the step's TrainJob runs as it, so
the containers of the tenant's steps (as `mlcp-workload`) never hold the right to create TrainJobs."""

DEPLOYER_BINDING = "mlcp-deployer"
"""The RoleBinding, in a tenant's namespace, of the identity mlcp impersonates to write its workload objects."""

DEPLOYER_HOME = "mlcp-system"
"""The namespace of the deployer identities as rendered: the default controller namespace. The engine stamps the
operator's own over it (`rendering.tenant.with_deployer_home`), which rendering, being pure, cannot know."""


def deployer_account(namespace: str) -> str:
    """The ServiceAccount name mlcp impersonates for the tenant of `namespace`, in the controller namespace.

    Never in the tenant's namespace: whoever may run a Workflow or a pod there may run it as any account of the
    namespace (`serviceAccountName`), so an account there is usable by every member. Nothing creates it: the
    name alone is what the API server authorizes an impersonated request as, and no token can be requested for
    an account that does not exist.
    """
    return f"mlcp-deployer-{namespace}"


@dataclass
class RenderContext:
    """The repo plus the per-file commits that last touched each spec."""

    repo: ConfigRepo
    commits: dict[str, str] = field(default_factory=dict)

    def tenant(self, name: str | None) -> Tenant:
        """The revision's Tenant. What another kind takes from it is judged with the Tenant change
        (reconciler/tenantbound.py): its namespace in namespaced objects only, its people only in objects the kind
        declares as naming them (`renders(..., people=...)`); tests/controlplane/rendering/test_tenant_derived.py
        finds any other use."""
        try:
            return self._tenants[name]
        except KeyError:
            raise KeyError(f"no tenant {name!r}") from None  # validation guarantees it exists

    @cached_property
    def _tenants(self) -> dict[str | None, Tenant]:
        """Tenants by name, built once: renderers ask for a spec's tenant for every object (N lookups)."""
        return {loaded.tenant: cast(Tenant, loaded.spec) for loaded in reversed(self.repo.of_kind("Tenant"))}

    @cached_property
    def access_policy(self) -> AccessPolicy | None:
        """The rendered repo's AccessPolicy (the first one; validation allows only one), looked up once."""
        policies = self.repo.of_kind("AccessPolicy")
        return cast(AccessPolicy, policies[0].spec) if policies else None

    @cached_property
    def training_tenants(self) -> frozenset[str | None]:
        """Tenants with a pipeline that has a training step: only they get the `mlcp-trainer` account."""
        return frozenset(
            loaded.tenant
            for loaded in self.repo.of_kind("Pipeline")
            if any(isinstance(step, TrainingStep) for step in cast(Pipeline, loaded.spec).spec.steps)
        )

    def namespace(self, name: str | None) -> str:
        return self.tenant(name).namespace


def spec_label(loaded: LoadedSpec) -> str:
    return f"{loaded.spec.kind}.{loaded.spec.metadata.name}"


def metadata(
    loaded: LoadedSpec, ctx: RenderContext, name: str, namespace: str | None, extra_labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """Object metadata with mlcp's ownership labels and provenance annotations."""
    labels = {**loaded.spec.metadata.labels, **(extra_labels or {})}
    labels.update({MANAGED_BY: MANAGER, SPEC_LABEL: spec_label(loaded)})
    if loaded.tenant:
        labels[TENANT_LABEL] = loaded.tenant
    annotations = {**loaded.spec.metadata.annotations, SOURCE_ANNOTATION: loaded.source.path}
    commit = ctx.commits.get(loaded.source.path)
    if commit:
        annotations[COMMIT_ANNOTATION] = commit
    meta: dict[str, Any] = {"name": name, "labels": labels, "annotations": annotations}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def desired(loaded: LoadedSpec, manifest: dict[str, Any]) -> DesiredObject:
    """Wrap a rendered Kubernetes manifest with its identity, provenance and declared rank.

    An object of a resource its kind did not declare (`registry.renders`) is a bug in that kind, caught here:
    undeclared, mlcp would neither read it back nor be allowed to write it.
    """
    meta = manifest["metadata"]
    declared = catalog.declared_by(loaded.spec.kind, manifest["apiVersion"], manifest["kind"])
    if declared is None:
        raise catalog.CatalogError(
            f"{loaded.spec.kind} rendered {manifest['kind']} ({manifest['apiVersion']}), which its renderer "
            "does not declare: add it to the kind's `renders(...)`"
        )
    ref = ObjectRef("kubernetes", manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"])
    return DesiredObject(
        ref=ref,
        manifest=manifest,
        spec=loaded.key,
        tenant=loaded.tenant,
        source=loaded.source.path,
        rank=declared.rank,
    )
