"""Tenant people → MLflow permissions on the tenant's experiments and registered models.

MLflow's basic-auth app enforces per-user permissions; without it every user
may do everything, and permissions mean nothing. Rendering is pure and cannot
know which server it will meet, so it always renders one permission object per
(experiment or model, user): owners MANAGE, members EDIT (role admin or edit)
or READ (role view). The MLflow backend turns them into no-ops when the server
has no auth, so a plan never shows permission changes that could not matter.
MLflow has no groups, so `Member` entries of kind `Group` get nothing.

A registered model's permissions come from the first promotion (by spec key)
that names the model, so two promotions of one model (staging, production)
render its grants once (validation lets only the model's own tenant promote it).

Whichever spec renders them, grants are attributed to the Tenant spec that
declares the people (its key, tenant and source file): who may hold which
level in MLflow is a change of the Tenant, authorized as one. Otherwise a
member allowed to edit experiments could grant MLflow permissions by editing
an experiment, and an approved promotion would carry grants nobody reviewed
as grants.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject, ObjectRef
from controlplane.rendering import catalog
from controlplane.rendering.context import RenderContext
from controlplane.rendering.mlflow_objects import API_VERSION, EXPERIMENT, SYSTEM
from controlplane.rendering.registry import renders
from controlplane.specs import Experiment, ModelPromotion, Tenant

EXPERIMENT_PERMISSION = "ExperimentPermission"
MODEL_PERMISSION = "RegisteredModelPermission"
KINDS = (EXPERIMENT_PERMISSION, MODEL_PERMISSION)
RANKS = {EXPERIMENT_PERMISSION: 61, MODEL_PERMISSION: 66}
"""After the experiment (60) a grant is about, and after aliases (65)."""
for _kind in KINDS:
    catalog.declare_access(API_VERSION, _kind)  # a grant git no longer renders is revoked, prune or not

MANAGE, EDIT, READ = "MANAGE", "EDIT", "READ"
LEVELS = (READ, EDIT, MANAGE)
"""Weakest first; a person named twice gets the strongest."""
MEMBER_LEVEL = {"admin": EDIT, "edit": EDIT, "view": READ}


class GrantRef(NamedTuple):
    """Identity of one person's permission on one experiment or registered model, typed rather than packed.

    As an object's name it is `<experiment or model>#<user>`, which saved plans and inventories keep; the
    last `#` separates them (user names hold none).
    """

    kind: str
    """EXPERIMENT_PERMISSION or MODEL_PERMISSION."""
    resource: str
    user: str

    @property
    def name(self) -> str:
        return f"{self.resource}#{self.user}"

    def ref(self) -> ObjectRef:
        return ObjectRef(SYSTEM, API_VERSION, self.kind, None, self.name)

    @property
    def resource_type(self) -> str:
        """MLflow's word for the resource: `experiment` or `registered_model`."""
        return "experiment" if self.kind == EXPERIMENT_PERMISSION else "registered_model"

    def experiment(self) -> ObjectRef | None:
        """The Experiment object this grant is on (None on a registered model, which mlcp never creates)."""
        return (
            ObjectRef(SYSTEM, API_VERSION, EXPERIMENT, None, self.resource)
            if self.kind == EXPERIMENT_PERMISSION
            else None
        )

    @classmethod
    def of(cls, ref: ObjectRef) -> GrantRef:
        resource, sep, user = ref.name.rpartition("#")
        if not sep:
            raise ValueError(f"{ref} is not a permission (<resource>#<user>)")
        return cls(ref.kind, resource, user)


def permission_name(resource: str, user: str) -> str:
    """`<experiment or model>#<user>`, the name of a permission object (see GrantRef)."""
    return f"{resource}#{user}"


def tenant_grants(tenant: Tenant) -> dict[str, str]:
    """user → permission for one tenant: owners MANAGE, users among members EDIT or READ (groups: none)."""
    grants: dict[str, str] = {}
    people = [(m.name, MEMBER_LEVEL[m.role]) for m in tenant.spec.members if m.kind == "User"]
    people += [(owner, MANAGE) for owner in tenant.spec.owners]
    for user, level in people:
        if LEVELS.index(level) >= LEVELS.index(grants.get(user, READ)):
            grants[user] = level
    return dict(sorted(grants.items()))


def _tenant_spec(ctx: RenderContext, tenant: str | None) -> LoadedSpec:
    """The loaded Tenant spec of `tenant` (validation guarantees it exists)."""
    for loaded in ctx.repo.of_kind("Tenant"):
        if loaded.tenant == tenant:
            return loaded
    raise KeyError(f"no tenant {tenant!r}")


def _objects(loaded: LoadedSpec, ctx: RenderContext, kind: str, field: str, resource: str) -> list[DesiredObject]:
    declared = _tenant_spec(ctx, loaded.tenant)
    return [
        DesiredObject(
            ref=ObjectRef(SYSTEM, API_VERSION, kind, None, permission_name(resource, user)),
            manifest={field: resource, "user": user, "permission": level},
            spec=declared.key,
            tenant=declared.tenant,
            source=declared.source.path,
            rank=RANKS[kind],
        )
        for user, level in tenant_grants(cast(Tenant, declared.spec)).items()
    ]


@renders("Experiment")
def render_experiment_permissions(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    name = cast(Experiment, loaded.spec).mlflow_name(loaded.tenant or "")
    return _objects(loaded, ctx, EXPERIMENT_PERMISSION, "experiment", name)


def _first_promotion_of(model: str, ctx: RenderContext) -> str:
    keys = [str(s.key) for s in ctx.repo.of_kind("ModelPromotion") if cast(ModelPromotion, s.spec).spec.model == model]
    return min(keys)


@renders("ModelPromotion")
def render_model_permissions(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    model = cast(ModelPromotion, loaded.spec).spec.model
    if _first_promotion_of(model, ctx) != str(loaded.key):
        return []
    return _objects(loaded, ctx, MODEL_PERMISSION, "model", model)


def resource_of(manifest: dict[str, Any]) -> tuple[str, str]:
    """(MLflow resource type, name) a permission manifest is about: experiments by name, models by name."""
    if "experiment" in manifest:
        return "experiment", str(manifest["experiment"])
    return "registered_model", str(manifest["model"])
