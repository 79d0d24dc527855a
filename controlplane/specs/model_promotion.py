"""ModelPromotion: move a registered model's alias to a vetted version.

MLflow keeps no history or gate for alias moves; declaring them in git gives
review, metric gates, approvals and `git revert` as rollback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal
from urllib.parse import unquote

from pydantic import AfterValidator, Field, model_validator

from controlplane.specs.base import Finding, NameRule, Spec, TenantSpecs, register
from controlplane.specs.kube_syntax import INT32_MAX, INT64_MAX, DnsSubdomain
from controlplane.specs.model import NonEmptyStr, SpecModel
from controlplane.specs.quota import limit_range_findings, quota_findings
from controlplane.specs.resources import ResourceList

Comparison = Literal[">", ">=", "<", "<=", "==", "!="]

_ALIAS = re.compile(r"[\w-]+")
"""MLflow's alias characters (`_validate_model_alias_name`): word characters, Unicode ones too, and `-`; matched
whole, where MLflow's `$` would let a trailing newline through."""
_VERSION_ALIAS = re.compile(r"[vV]\d+")
"""What MLflow keeps for version aliases (`v2` names version 2): never set as an alias."""

ALIAS_MAX = 250 - len("mlcp.dev/promoted.") - len(".previous-version")
"""The longest alias: MLflow takes 255, but mlcp records a promotion in model-version tags named
`mlcp.dev/promoted.<alias>.previous-version` (rendering.mlflow_objects.version_tag), and MLflow's tag keys hold 250."""


def _alias(value: str) -> str:
    """An alias MLflow's set_registered_model_alias accepts (mlflow/utils/validation.py), which mlcp can record."""
    if not _ALIAS.fullmatch(value):
        raise ValueError(f"alias {value!r}: MLflow allows only letters, digits, '_' and '-' in an alias")
    if value.lower() == "latest":
        raise ValueError(f"alias {value!r}: MLflow reserves 'latest' (any case) for a model's newest version")
    if _VERSION_ALIAS.fullmatch(value):
        raise ValueError(f"alias {value!r}: MLflow reserves v<N> aliases for version N")
    if len(value) > ALIAS_MAX:
        raise ValueError(f"alias of {len(value)} characters: at most {ALIAS_MAX} fit the tags mlcp records it in")
    return value


Alias = Annotated[NonEmptyStr, AfterValidator(_alias)]
"""A registered model alias by MLflow's rules: `production`, `staging`, `champion-2`."""


LOADABLE = ("s3://", "gs://", "hdfs://", "webhdfs://", "https://", "http://", "pvc://", "hf://", "oci://")
"""Schemes KServe's storage initializer downloads (kserve_storage.py; Azure is https://). Not `file://` (a path
on the machine that logged the model, not in the storage initializer), `mlflow-artifacts:` (the tracking
server's proxy), `models:`/`runs:` (MLflow URIs) nor relative paths."""


def unloadable(location: str) -> str | None:
    """Why KServe must not be given `location` (None: its storage initializer downloads it).

    A scheme it does not download never loads; a `..` segment (percent-encoded too, as MLflow's own source check
    decodes it) climbs out of the folder the location names, into files nobody registered.
    """
    if not location.startswith(LOADABLE) or location.endswith("://"):
        return f"KServe's storage initializer cannot load it (it downloads {', '.join(LOADABLE)})"
    decoded = location
    while (once := unquote(decoded)) != decoded:  # each round is shorter: it ends
        decoded = once
    if ".." in decoded.split("/") or "\x00" in decoded:
        return "it climbs out of the folder it names (a '..' segment, or a NUL)"
    return None


def loadable(location: str) -> bool:
    """Whether KServe's storage initializer can download `location` (by its scheme, with something after it, and
    no `..` segment)."""
    return unloadable(location) is None


def _storage_uri(value: str) -> str:
    why = unloadable(value)
    if why is not None:
        raise ValueError(
            f"storageUri {value!r}: {why}; leave storageUri out to serve the version's own artifact location"
        )
    return value


def _model_name(value: str) -> str:
    if "/" in value or ":" in value:  # MLflow's _validate_model_name
        raise ValueError(f"model name {value!r}: MLflow refuses '/' and ':' in a registered model's name")
    return value


class MetricGate(SpecModel):
    """A condition on a metric of the version's source run: a run of one of the tenant's own experiments (those mlcp
    manages for it) that logged the version's files, or the promotion is blocked."""

    metric: NonEmptyStr = Field(description="Metric logged on the version's source run.")
    comparison: Comparison = Field(description="How the measured value compares to the threshold.")
    threshold: float = Field(description="The value to compare against.")


class Canary(SpecModel):
    """Send part of the traffic to the newly promoted version (KServe Serverless mode only)."""

    traffic_percent: int = Field(
        ge=0,
        le=100,
        description="Percent of traffic the latest revision (the new version) takes; the previous revision keeps "
        "the rest. Rendered as the predictor's `canaryTrafficPercent`. Only KServe's Serverless (Knative) mode "
        "supports canaries, RawDeployment does not. Complete the canary by removing it (or 100), abort it with 0.",
    )


class Serving(SpecModel):
    """Serve the promoted model with KServe."""

    runtime: DnsSubdomain | None = Field(
        default=None, description="KServe ServingRuntime name; KServe picks one if unset."
    )
    model_format: NonEmptyStr = Field(default="mlflow", description="KServe model format.")
    min_replicas: int = Field(default=1, ge=0, le=INT32_MAX, description="Minimum replicas (0 scales to zero).")
    max_replicas: int | None = Field(default=None, ge=1, le=INT32_MAX, description="Maximum replicas.")
    storage_uri: Annotated[str, AfterValidator(_storage_uri)] | None = Field(
        default=None,
        description="Where KServe loads the model: the artifact location (`source`) of the version the alias is "
        "moved to, resolved when planning, so an alias move rolls out the new version. Set, it is a pin that must "
        "equal that location (a scheme KServe loads: " + ", ".join(LOADABLE) + "); a different one blocks the "
        "alias move and the serving change together, since it could name any artifacts (another tenant's, a "
        "quarantined version's). Unset: the resolved location.",
    )
    resources: ResourceList = Field(
        default_factory=dict,
        description="The predictor container's resources, requested and limited alike (a limit below the request "
        "from the tenant's LimitRange or KServe's defaults would make its pod one the API server refuses); checked "
        "against the tenant's Quota (`minReplicas` pods) and its LimitRange's `min` and `max`.",
    )
    canary: Canary | None = Field(default=None, description="Canary rollout of a new version (Serverless mode).")


class ModelPromotionSpec(SpecModel):
    model: Annotated[NonEmptyStr, AfterValidator(_model_name)] = Field(
        description="Registered model name in MLflow; must be the tenant's own: the tenant's name, or it followed "
        "by `-`, `_` or `.` (e.g. `vision-detector`), unless a tenant with a longer such name owns it; a tenant of the "
        "trusted base keeps such a name from a tenant folder the base does not know yet."
    )
    alias: Alias = Field(
        description="Alias to move, e.g. `production`: letters, digits, `_` and `-` (MLflow's rule), never `latest` "
        f"or `v<N>` (MLflow's own), at most {ALIAS_MAX} characters."
    )
    version: int | None = Field(default=None, ge=1, le=INT64_MAX, description="Exact version to promote.")
    from_alias: Alias | None = Field(
        default=None,
        description="Promote whatever version this alias points to (e.g. `staging`); an alias by the same rules. "
        "Whoever may move it (the tenant's owners and `admin`/`edit` members) never approves the promotion.",
    )
    gates: list[MetricGate] = Field(default_factory=list, description="All must pass.")
    required_approvals: int = Field(
        default=0,
        ge=0,
        le=INT32_MAX,
        description="Approvals needed from distinct approvers other than the author.",
    )
    serving: Serving | None = Field(default=None, description="Optional KServe serving.")

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ModelPromotionSpec:
        if (self.version is None) == (self.from_alias is None):
            raise ValueError(
                "set exactly one of `version` (a fixed version) or `fromAlias` (promote what another alias points to)"
            )
        if self.from_alias is not None and self.from_alias == self.alias:
            raise ValueError("`fromAlias` must differ from `alias`")
        return self


@register
class ModelPromotion(Spec):
    """A gated, approved move of a model alias to a version."""

    kind: Literal["ModelPromotion"] = "ModelPromotion"
    spec: ModelPromotionSpec
    folder = "tenants/<tenant>/promotions/<name>.yaml"
    name_rules = (
        NameRule(
            "KServe's webhook refuses an InferenceService name not matching [a-z]([-a-z0-9]*[a-z0-9])?, after the "
            "alias moved",
            letter_first=True,
        ),
    )

    @property
    def in_cluster(self) -> bool:
        """Only serving renders a Kubernetes object (the InferenceService); the alias is MLflow's."""
        return self.spec.serving is not None

    def cross_checks(self, tenant: TenantSpecs) -> Iterable[Finding]:
        """A predictor whose pods the tenant's Quota or LimitRange refuse is an InferenceService that never serves."""
        serving = self.spec.serving
        if serving is None:
            return
        asked = {name: (("spec", "serving", "resources", name), value) for name, value in serving.resources.items()}
        yield from quota_findings(tenant, asked, "the predictor", max(serving.min_replicas, 1))
        yield from limit_range_findings(tenant, asked, "the predictor")
