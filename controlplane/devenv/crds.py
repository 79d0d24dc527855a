"""The CustomResourceDefinitions mlcp manages beyond core Kubernetes.

Argo Workflows, Katib and KServe are not installed in the local environment,
but mlcp writes their objects, so their CRDs are: the manifests in `crds/`
are written in this project with structural schemas that type-check the
top-level fields mlcp sets and preserve unknown fields below them. The API
server then accepts and rejects mlcp's objects the way the real CRDs would on
those fields, and server-side apply has a schema to merge with.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any, cast

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

MANAGED_BY_LABEL = ("app.kubernetes.io/managed-by", "mlcp-devenv")


def manifests() -> list[dict[str, Any]]:
    """The CRD documents shipped in `controlplane/devenv/crds/`, sorted by name."""
    folder = resources.files("controlplane.devenv") / "crds"
    docs = [yaml.safe_load(entry.read_text()) for entry in folder.iterdir() if entry.name.endswith(".yaml")]
    return sorted(docs, key=lambda doc: str(doc["metadata"]["name"]))


def _established(crd: Any) -> bool:
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def install(api_client: client.ApiClient, timeout: float = 30.0, replace: bool = True) -> None:
    """Create (or, with `replace`, update) every CRD and wait until all are Established.

    With `replace=False` an existing CRD of the same name is left alone, which
    is what a shared cluster that already runs Argo, Katib or KServe needs.
    """
    api = client.ApiextensionsV1Api(api_client)
    names = []
    for doc in manifests():
        name = doc["metadata"]["name"]
        names.append(name)
        try:
            api.create_custom_resource_definition(body=cast(Any, doc))
        except ApiException as err:
            if err.status != 409:
                raise
            if replace:
                current: Any = api.read_custom_resource_definition(name)
                doc["metadata"]["resourceVersion"] = current.metadata.resource_version
                api.replace_custom_resource_definition(name, body=cast(Any, doc))
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        pending = {n for n in pending if not _established(api.read_custom_resource_definition(n))}
        if not pending:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not Established after {timeout:.0f} s: {sorted(pending)}")
        time.sleep(0.1)


def is_ours(api_client: client.ApiClient, name: str) -> bool:
    """True when the CRD `name` on the cluster is this project's manifest."""
    crd: Any = client.ApiextensionsV1Api(api_client).read_custom_resource_definition(name)
    labels = crd.metadata.labels or {}
    return bool(labels.get(MANAGED_BY_LABEL[0]) == MANAGED_BY_LABEL[1])
