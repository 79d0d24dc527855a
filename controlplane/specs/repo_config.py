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

from typing import Literal

from pydantic import Field

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


class RepoConfig(SpecModel):
    """The contents of `mlcp.yaml`."""

    api_version: Literal["mlcp.dev/v1alpha1"] = Field(default="mlcp.dev/v1alpha1", alias="apiVersion")
    kind: Literal["Config"] = "Config"
    cluster: ClusterTarget = Field(default_factory=ClusterTarget)
    registry: RegistryTarget = Field(default_factory=RegistryTarget)
    prune: PrunePolicy = Field(default_factory=PrunePolicy)
