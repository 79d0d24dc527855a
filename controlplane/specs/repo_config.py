"""`mlcp.yaml`: settings of a whole config repo (targets, pruning, audit).

Not a spec kind: it configures how specs are applied rather than declaring
desired state, so it sits at the repo root and is never rendered.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controlplane.specs.base import SpecModel


class ClusterTarget(SpecModel):
    kubeconfig: str | None = Field(
        default=None, description="Kubeconfig path; defaults to $KUBECONFIG or ~/.kube/config."
    )
    context: str | None = Field(default=None, description="Kubeconfig context to use.")
    controller_namespace: str = Field(
        default="mlcp-system", description="Namespace holding mlcp's inventory and state."
    )


class RegistryTarget(SpecModel):
    tracking_uri: str | None = Field(default=None, description="MLflow tracking URI; defaults to $MLFLOW_TRACKING_URI.")


class PrunePolicy(SpecModel):
    enabled: bool = Field(default=False, description="Delete objects removed from git.")
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
