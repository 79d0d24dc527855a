"""Server-side apply of the environment's own objects: CRDs, Argo's controller and RBAC, fake nodes.

The environment installs what a cluster administrator would, before mlcp or a
test touches the cluster. Server-side apply makes each install idempotent (an
environment pointed at an existing cluster re-applies without conflicts) and
takes YAML bodies as they are, so upstream CRDs of megabytes are sent without
being parsed or re-serialized in Python. Responses are read raw for the same
reason: the typed client would spend seconds turning a full Argo CRD into models.
"""

from __future__ import annotations

import json
from typing import Any, cast

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

FIELD_MANAGER = "mlcp-devenv"
APPLY_PATCH = "application/apply-patch+yaml"

# (apiVersion, kind) -> (plural, namespaced): only what the environment writes.
_RESOURCES: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Node"): ("nodes", False),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("customresourcedefinitions", False),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): ("validatingadmissionpolicies", False),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): (
        "validatingadmissionpolicybindings",
        False,
    ),
}


def path(api_version: str, kind: str, name: str, namespace: str | None = None) -> str:
    """The REST path of one object."""
    try:
        plural, namespaced = _RESOURCES[(api_version, kind)]
    except KeyError:
        raise ValueError(f"the environment does not install {kind} ({api_version})") from None
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespaced != (namespace is not None):
        raise ValueError(f"{kind} {name}: namespace {'missing' if namespaced else 'not allowed'}")
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{scope}/{plural}/{name}"


def request(api: client.ApiClient, method: str, url: str, body: Any = None, content_type: str | None = None) -> Any:
    """One call, its JSON answer parsed with the standard library (None when empty); errors raise ApiException."""
    headers = {"Accept": "application/json"}
    if content_type or body is not None:
        headers["Content-Type"] = content_type or "application/json"
    query = [("fieldManager", FIELD_MANAGER), ("force", "true")] if content_type == APPLY_PATCH else []
    params = api.param_serialize(
        method, url, query_params=query, header_params=headers, body=body, auth_settings=["BearerToken"]
    )
    response = api.call_api(*params)
    data = cast(bytes, response.read())  # type: ignore[no-untyped-call]
    if response.status >= 400:
        raise ApiException(status=response.status, reason=response.reason, body=data.decode(errors="replace"))
    return json.loads(data) if data else None


def apply_raw(api: client.ApiClient, url: str, body: str | bytes) -> None:
    """Server-side apply a YAML or JSON document given as text (kept as it is)."""
    request(api, "PATCH", url, body, APPLY_PATCH)


def apply(api: client.ApiClient, doc: dict[str, Any]) -> None:
    """Server-side apply one manifest, as the environment's field manager (forcing ownership)."""
    meta = doc["metadata"]
    url = path(doc["apiVersion"], doc["kind"], meta["name"], meta.get("namespace"))
    apply_raw(api, url, yaml.safe_dump(doc))
