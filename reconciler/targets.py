"""The operator's settings, kept apart from the engine so every command can build them cheaply.

Where mlcp connects, with which credentials, in which namespace it keeps its
records, and which revision it trusts: all of these come from the operator's
flags and environment (or the controller's own configuration), never from the
config repo under review.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_CONTROLLER_NAMESPACE = "mlcp-system"


@dataclass(frozen=True)
class Targets:
    """The operator's settings: where mlcp connects, with which credentials, and which revision it trusts.

    They come from flags and the environment, never from the config repo under review: mlcp.yaml may only
    state what it expects, and a disagreement stops mlcp (`check_expectations`).
    """

    kubeconfig: str | None = None
    context: str | None = None
    tracking_uri: str | None = None
    controller_namespace: str = DEFAULT_CONTROLLER_NAMESPACE
    trusted_base: str | None = None
    """The revision the operator trusts (--trusted-base / MLCP_TRUSTED_BASE); else the last applied one."""

    def resolved_kubeconfig(self) -> str | None:
        path = self.kubeconfig or os.environ.get("KUBECONFIG")
        return path.split(os.pathsep)[0] if path else None

    def resolved_tracking_uri(self) -> str | None:
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or None
