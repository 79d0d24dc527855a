"""`mlcp.yaml`: settings of a whole config repo (expected targets, pruning).

Not a spec kind: it configures how specs are applied rather than declaring
desired state, so it sits at the repo root and is never rendered. The repo is
data: it never decides where mlcp connects. The target fields only state what
the repo expects; mlcp compares them with the operator's own settings and
stops when they disagree. The whole file is a governance input, read from the
trusted base (the last applied revision), and a change to it is planned and
authorized like any other.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from controlplane.specs.artifact_roots import DEFAULT_ROOTS, template_problem
from controlplane.specs.model import SpecModel


class ClusterTarget(SpecModel):
    kubeconfig: str | None = Field(
        default=None,
        description="Expected kubeconfig path. Only checked: mlcp uses the operator's --kubeconfig / $KUBECONFIG "
        "and stops when this disagrees.",
    )
    context: str | None = Field(
        default=None, description="Expected kubeconfig context (checked against the operator's --context)."
    )
    controller_namespace: str | None = Field(
        default=None,
        description="Expected namespace of mlcp's inventory and state (checked against the operator's "
        "--controller-namespace / $MLCP_CONTROLLER_NAMESPACE, default mlcp-system).",
    )


class RegistryTarget(SpecModel):
    tracking_uri: str | None = Field(
        default=None,
        description="Expected MLflow tracking URI. Only checked: mlcp uses the operator's --tracking-uri / "
        "$MLFLOW_TRACKING_URI (and its credentials) and stops when this disagrees.",
    )


class PrunePolicy(SpecModel):
    enabled: bool = Field(
        default=False,
        description=(
            "Delete objects removed from git. Objects that give people access (RoleBindings, MLflow "
            "permissions) are deleted even when off, so a person removed from a tenant loses access."
        ),
    )
    allow_namespace_deletion: bool = Field(
        default=False, description="Also delete tenants' namespaces (never when protected)."
    )


def _root_template(value: str) -> str:
    why = template_problem(value)
    if why is not None:
        raise ValueError(f"artifact root {value!r}: {why}")
    return value


class ArtifactPolicy(SpecModel):
    roots: list[Annotated[str, AfterValidator(_root_template)]] = Field(
        default_factory=lambda: list(DEFAULT_ROOTS),
        max_length=64,
        description="Each tenant's artifact roots, as templates naming `{tenant}` as a whole path segment (e.g. "
        "`s3://ml-artifacts/{tenant}/`). An Experiment's `artifactLocation` must lie under one of its tenant's, and "
        "a promotion serves a version only from under them or under the artifact location of an experiment mlcp "
        "manages for the tenant. Read from the trusted base, like every rule. Default: "
        "`mlflow-artifacts:/{tenant}/`.",
    )


class RepoConfig(SpecModel):
    """The contents of `mlcp.yaml`."""

    api_version: Literal["mlcp.dev/v1alpha1"] = Field(default="mlcp.dev/v1alpha1", alias="apiVersion")
    kind: Literal["Config"] = "Config"
    cluster: ClusterTarget = Field(default_factory=ClusterTarget)
    registry: RegistryTarget = Field(default_factory=RegistryTarget)
    prune: PrunePolicy = Field(default_factory=PrunePolicy)
    artifacts: ArtifactPolicy = Field(default_factory=ArtifactPolicy)
