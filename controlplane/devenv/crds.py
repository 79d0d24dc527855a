"""The CustomResourceDefinitions of the kinds mlcp writes beyond core Kubernetes.

The local environment installs the real, upstream CRDs wherever a Go module
ships them, so the API server accepts and rejects mlcp's objects exactly as a
cluster running those projects would: Argo Workflows' full CRDs (all eight,
every field typed; Argo's controller needs its own kinds too) and KServe's
full InferenceService CRD, copied from the pinned modules by
`hack/testenv/build-addons.sh`. They are large (2.5 MB each for Argo's), so
they are sent as they are with server-side apply, never parsed here.

Only Katib's Experiment keeps a manifest written in this project (`crds/`):
Katib's module (v0.19.0) ships a CRD without any schema (it validates with an
admission webhook the environment does not run), so the hand-written one,
which types the fields mlcp sets, is the stricter check. See docs/testing.md.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controlplane.devenv import binaries, kubeapply

MANAGED_BY_LABEL = ("app.kubernetes.io/managed-by", "mlcp-devenv")

ARGO_CRDS = (
    "argoproj.io_clusterworkflowtemplates.yaml",
    "argoproj.io_cronworkflows.yaml",
    "argoproj.io_workflowartifactgctasks.yaml",
    "argoproj.io_workfloweventbindings.yaml",
    "argoproj.io_workflows.yaml",
    "argoproj.io_workflowtaskresults.yaml",
    "argoproj.io_workflowtasksets.yaml",
    "argoproj.io_workflowtemplates.yaml",
)
KSERVE_CRDS = ("serving.kserve.io_inferenceservices.yaml",)


def name_of(file_name: str) -> str:
    """`argoproj.io_workflows.yaml` -> `workflows.argoproj.io` (the controller-gen file naming)."""
    group, _, plural = file_name.removesuffix(".yaml").partition("_")
    return f"{plural}.{group}"


def upstream_files() -> list[Path]:
    """The upstream CRD files in the build cache (missing ones raise: run `make testenv`)."""
    files = [binaries.argo_dir() / "crds" / f for f in ARGO_CRDS]
    files += [binaries.kserve_dir() / "crds" / f for f in KSERVE_CRDS]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise binaries.BinariesMissing(f"missing upstream CRDs {missing}: run `make testenv`")
    return files


def shipped() -> list[dict[str, Any]]:
    """The CRD documents written in this project (`controlplane/devenv/crds/`), sorted by name."""
    folder = resources.files("controlplane.devenv") / "crds"
    docs = [yaml.safe_load(entry.read_text()) for entry in folder.iterdir() if entry.name.endswith(".yaml")]
    return sorted(docs, key=lambda doc: str(doc["metadata"]["name"]))


def names() -> list[str]:
    """Every CRD the environment installs, by name."""
    upstream = [name_of(f) for f in (*ARGO_CRDS, *KSERVE_CRDS)]
    return sorted([*upstream, *(str(doc["metadata"]["name"]) for doc in shipped())])


def _url(name: str) -> str:
    return kubeapply.path("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)


def _read(api_client: client.ApiClient, name: str) -> dict[str, Any] | None:
    try:
        crd: dict[str, Any] = kubeapply.request(api_client, "GET", _url(name))
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return crd


def _established(crd: dict[str, Any] | None) -> bool:
    conditions = (crd or {}).get("status", {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def bodies() -> dict[str, str | bytes]:
    """Every CRD the environment installs: name -> the document to apply (upstream files byte for byte)."""
    found: dict[str, str | bytes] = {name_of(f.name): f.read_bytes() for f in upstream_files()}
    for doc in shipped():
        found[doc["metadata"]["name"]] = yaml.safe_dump(doc)
    return found


def install(api_client: client.ApiClient, timeout: float = 60.0, replace: bool = True) -> None:
    """Server-side apply every CRD and wait until all are Established.

    With `replace=False` an existing CRD of the same name is left alone, which
    is what a shared cluster that already runs Argo, Katib or KServe needs.
    """
    found = bodies()
    for name, body in found.items():
        if replace or _read(api_client, name) is None:
            kubeapply.apply_raw(api_client, _url(name), body)
    deadline = time.monotonic() + timeout
    pending = set(found)
    while pending:
        pending = {n for n in pending if not _established(_read(api_client, n))}
        if not pending:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not Established after {timeout:.0f} s: {sorted(pending)}")
        time.sleep(0.2)


def served(api_client: client.ApiClient) -> list[dict[str, Any]]:
    """Name, group, served version and plural of each installed CRD (one read each: not for every start)."""
    records = []
    for name in names():
        crd = _read(api_client, name) or {}
        spec = crd.get("spec", {})
        for version in spec.get("versions", []):
            if version.get("served"):
                plural = spec["names"]["plural"]
                records.append({"name": name, "group": spec["group"], "version": version["name"], "plural": plural})
    return records


def wait_served(api_client: client.ApiClient, records: list[dict[str, Any]], timeout: float) -> None:
    """Wait until discovery lists every recorded resource (one cheap GET per group version, not per CRD)."""
    wanted: dict[str, set[str]] = {}
    for record in records:
        wanted.setdefault(f"{record['group']}/{record['version']}", set()).add(record["plural"])
    deadline = time.monotonic() + timeout
    while wanted:
        for group_version in list(wanted):
            try:
                listed = kubeapply.request(api_client, "GET", f"/apis/{group_version}")
            except ApiException as err:
                if err.status != 404:
                    raise
                continue
            wanted[group_version] -= {r["name"] for r in listed.get("resources", [])}
            if not wanted[group_version]:
                del wanted[group_version]
        if wanted and time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not served after {timeout:.0f} s: {sorted(wanted.items())}")
        if wanted:
            time.sleep(0.1)


def is_ours(api_client: client.ApiClient, name: str) -> bool:
    """True when the CRD `name` on the cluster was installed by this environment (not a real Argo/Katib/KServe)."""
    crd = _read(api_client, name) or {}
    meta = crd.get("metadata", {})
    if (meta.get("labels") or {}).get(MANAGED_BY_LABEL[0]) == MANAGED_BY_LABEL[1]:
        return True
    return any(entry.get("manager") == kubeapply.FIELD_MANAGER for entry in meta.get("managedFields") or [])
