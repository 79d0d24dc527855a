"""Kubernetes API clients for the environment's identities.

The official client's `new_client_from_config` is untyped; this wraps it once
and adds impersonation, which the client only supports through raw headers.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes import client
from kubernetes.config import new_client_from_config


def api_client(kubeconfig: Path, *, impersonate: str | None = None, group: str | None = None) -> client.ApiClient:
    """A client authenticated by `kubeconfig`, optionally impersonating a user.

    The client library sends one value per header, so at most one impersonated
    group can be given; the API server adds `system:authenticated` itself.
    """
    api: client.ApiClient = new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    if impersonate is not None:
        api.default_headers["Impersonate-User"] = impersonate
        if group is not None:
            api.default_headers["Impersonate-Group"] = group
    elif group is not None:
        raise ValueError("an impersonated group needs an impersonated user")
    return api
