"""Experiment → MLflow experiment, ModelPromotion → MLflow model alias: the registry side of a spec.

MLflow has no labels or field managers, so ownership and provenance live in
tags: `mlcp.dev/managed-by=mlcp` marks what mlcp created (and may ever delete),
`mlcp.dev/managed-tags` lists the user tags mlcp set so a tag removed from the
spec is removed from MLflow too. A promotion renders what git knows (model,
alias, the declared version or source alias, the gates); the MLflow backend
resolves the source alias and evaluates the gates against live run metrics.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from controlplane.labels import SOURCE_ANNOTATION, SPEC_LABEL, TENANT_LABEL
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject, ObjectRef
from controlplane.rendering.context import RenderContext, spec_label
from controlplane.rendering.registry import renders
from controlplane.specs import Experiment, ModelPromotion

SYSTEM = "mlflow"
API_VERSION = "mlflow/v1"
EXPERIMENT = "Experiment"
MODEL_ALIAS = "ModelAlias"

OWNER_TAG = "mlcp.dev/managed-by"
OWNER_VALUE = "mlcp"
OWNERS_TAG = "mlcp.dev/owners"
MANAGED_TAGS_TAG = "mlcp.dev/managed-tags"
COMMIT_TAG = "mlcp.dev/source-commit"
DESCRIPTION_TAG = "mlflow.note.content"
"""Where MLflow keeps an experiment's description."""

RANKS = {EXPERIMENT: 60, MODEL_ALIAS: 65}
"""Within the registry: experiments, then aliases (the registry as a whole goes before the cluster)."""


class AliasRef(NamedTuple):
    """Identity of a registered model's alias: the model and the alias, typed rather than packed in a string.

    As an object's name it is `<model>@<alias>` (MLflow's own `models:/` URI syntax), which saved plans and
    inventories keep; model names may hold `@`, aliases may not (MLflow refuses one, and so does validation:
    `specs.model_promotion.Alias`), so the last `@` separates them.
    """

    model: str
    alias: str

    @property
    def name(self) -> str:
        return f"{self.model}@{self.alias}"

    def ref(self) -> ObjectRef:
        return ObjectRef(SYSTEM, API_VERSION, MODEL_ALIAS, None, self.name)

    @classmethod
    def of(cls, ref: ObjectRef) -> AliasRef:
        model, sep, alias = ref.name.rpartition("@")
        if ref.kind != MODEL_ALIAS or not sep:
            raise ValueError(f"{ref} is not a model alias (<model>@<alias>)")
        return cls(model, alias)


def alias_name(model: str, alias: str) -> str:
    """`<model>@<alias>`, the name of an alias object (see AliasRef)."""
    return AliasRef(model, alias).name


def alias_tag(alias: str, field: str) -> str:
    """Registered-model tag recording mlcp's promotion of `alias`, e.g. `mlcp.dev/alias.production.version`."""
    return f"mlcp.dev/alias.{alias}.{field}"


def version_tag(alias: str, field: str) -> str:
    """Model-version tag recording that this version was promoted to `alias`."""
    return f"mlcp.dev/promoted.{alias}.{field}"


def _desired(loaded: LoadedSpec, kind: str, name: str, manifest: dict[str, Any]) -> DesiredObject:
    return DesiredObject(
        ref=ObjectRef(SYSTEM, API_VERSION, kind, None, name),
        manifest=manifest,
        spec=loaded.key,
        tenant=loaded.tenant,
        source=loaded.source.path,
        rank=RANKS[kind],
    )


def experiment_tags(loaded: LoadedSpec, ctx: RenderContext, user_tags: dict[str, str]) -> dict[str, str]:
    """The user's tags plus mlcp's ownership and provenance tags."""
    tags = dict(user_tags)
    tags.update(
        {
            OWNER_TAG: OWNER_VALUE,
            TENANT_LABEL: loaded.tenant or "",
            SPEC_LABEL: spec_label(loaded),
            SOURCE_ANNOTATION: loaded.source.path,
            OWNERS_TAG: ",".join(ctx.tenant(loaded.tenant).spec.owners),
            MANAGED_TAGS_TAG: ",".join(sorted(user_tags)),
        }
    )
    commit = ctx.commits.get(loaded.source.path)
    if commit:
        tags[COMMIT_TAG] = commit
    return tags


@renders("Experiment", people=(EXPERIMENT,))  # its owners tag names the tenant's owners
def render_mlflow_experiment(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    experiment = cast(Experiment, loaded.spec)
    tracking = experiment.spec.tracking
    name = experiment.mlflow_name(loaded.tenant or "")
    manifest: dict[str, Any] = {
        "name": name,
        "lifecycleStage": "active",
        "tags": experiment_tags(loaded, ctx, tracking.tags),
    }
    if tracking.description is not None:
        manifest["description"] = tracking.description
    if tracking.artifact_location is not None:
        manifest["artifactLocation"] = tracking.artifact_location
    return [_desired(loaded, EXPERIMENT, name, manifest)]


@renders("ModelPromotion")
def render_model_alias(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    promotion = cast(ModelPromotion, loaded.spec)
    spec = promotion.spec
    manifest: dict[str, Any] = {"model": spec.model, "alias": spec.alias}
    if spec.version is not None:
        manifest["version"] = str(spec.version)
    if spec.from_alias is not None:
        manifest["fromAlias"] = spec.from_alias
    manifest["gates"] = [{"metric": g.metric, "comparison": g.comparison, "threshold": g.threshold} for g in spec.gates]
    manifest["provenance"] = {
        "spec": str(loaded.key),
        "source": loaded.source.path,
        "commit": ctx.commits.get(loaded.source.path),
    }
    return [_desired(loaded, MODEL_ALIAS, alias_name(spec.model, spec.alias), manifest)]
