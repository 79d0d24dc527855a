"""A TEST STAND-IN for `argoexec resource`: what the pod of an Argo resource step does, under KWOK.

In a real cluster the pod of a resource template runs one container, `main`,
with `argoexec resource <action>`: it writes the template's manifest (already
given its owner reference to the Workflow by the controller), runs `kubectl
create -f` with the pod's ServiceAccount token, then reads the object every few
seconds until the template's `failureCondition` (any requirement) or
`successCondition` (all of them) holds, and exits 0 or 1
(argo-workflows v4 `workflow/executor/resource.go`). KWOK runs no container,
so without this stand-in the step would "succeed" at once without creating
anything.

This is not Argo and not part of mlcp: a thread of the process that owns the
local environment, acting as the cluster admin like KWOK. It stands in for the
pod faithfully where it matters to mlcp: the object is created *as the pod's
ServiceAccount* (admin credentials impersonating it, as the token would
authenticate), so RBAC decides as it would for argoexec; the conditions are
the template's own, evaluated as Argo does (Kubernetes label-selector
requirements whose keys are gjson paths: dotted keys and list indices, the
forms mlcp renders; `==`/`=`, `!=`, `>`, `<` and bare existence). The pod is
then completed the way the kubelet would report it, exit code and message
included. mlcp's KWOK Stage leaves resource pods alone (`kwok-argo-stage.yaml`).
Only `action: create` is played; any other action fails the pod, saying so.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from devenv import kubeapply
from devenv.clients import api_client
from devenv.podwatch import ArgoPodWatcher

POLL_SECONDS = 0.5
"""How often a created object is read (argoexec: `RESOURCE_STATE_CHECK_INTERVAL`, 5 s by default)."""

Requirement = tuple[str, str, str]


def _plural(kind: str) -> str:
    """The resource of a kind as argoexec infers it (gengo's lowercase plural namer), e.g. TrainJob -> trainjobs."""
    word = kind.lower()
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def object_path(obj: dict[str, Any], *, collection: bool = False) -> str:
    """The REST path of `obj` (its collection's for a create), built as argoexec builds its self link."""
    api_version, meta = obj["apiVersion"], obj["metadata"]
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    scope = f"/namespaces/{meta['namespace']}" if meta.get("namespace") else ""
    name = "" if collection else f"/{meta['name']}"
    return f"{base}{scope}/{_plural(obj['kind'])}{name}"


def resource_action(pod: dict[str, Any]) -> str | None:
    """The action of a resource step's pod (its template's `resource.action`); None for any other pod."""
    resource = template_of(pod).get("resource")
    return str(resource.get("action", "")) if isinstance(resource, dict) else None


def template_of(pod: dict[str, Any]) -> dict[str, Any]:
    """The template the controller gave the pod (its `ARGO_TEMPLATE`)."""
    spec = pod.get("spec", {})
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        for var in container.get("env", []):
            if var.get("name") == "ARGO_TEMPLATE":
                found: dict[str, Any] = json.loads(var.get("value", "{}"))
                return found
    return {}


def requirements(condition: str) -> list[Requirement]:
    """`a.b == x,c != y` as (key, operator, value) triples; a bare key means "exists"."""
    found: list[Requirement] = []
    for part in filter(None, (p.strip() for p in condition.split(","))):
        for op in ("==", "!=", "=", ">", "<"):
            if op in part:
                key, _, value = part.partition(op)
                found.append((key.strip(), op, value.strip()))
                break
        else:
            found.append((part, "exists", ""))
    return found


def lookup(obj: Any, path: str) -> Any:
    """gjson's value at a dotted path (`status.conditions.0.type`); None when absent."""
    for key in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and key.isdigit() and int(key) < len(obj):
            obj = obj[int(key)]
        else:
            return None
    return obj


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "" if value is None else str(value)


def matches(obj: dict[str, Any], requirement: Requirement) -> bool:
    """Whether `obj` meets one requirement, as Kubernetes' label selector over gjson values would decide."""
    key, op, value = requirement
    found = lookup(obj, key)
    if op == "exists":
        return found is not None
    if op in ("==", "="):
        return found is not None and _text(found) == value
    if op == "!=":
        return found is None or _text(found) != value
    try:
        number, limit = float(_text(found)), float(value)
    except ValueError:
        return False
    return number > limit if op == ">" else number < limit


def outcome(obj: dict[str, Any], resource: dict[str, Any]) -> tuple[int, str] | None:
    """(exit code, message) once the object meets the failure or success condition; None while neither holds."""
    for requirement in requirements(resource.get("failureCondition", "")):
        if matches(obj, requirement):
            return 1, f"failure condition '{' '.join(requirement)}' evaluated true"
    success = requirements(resource.get("successCondition", ""))
    if all(matches(obj, r) for r in success):
        return 0, ""
    return None


class ResourceSteps(ArgoPodWatcher):
    """The stand-in's loop, in a daemon thread until `stop()`."""

    thread_name = "argoexec-resource-stand-in"
    watch_seconds = 1
    retry_seconds = POLL_SECONDS

    def __init__(self, admin_kubeconfig: Path) -> None:
        super().__init__(admin_kubeconfig)
        self._handled: set[str] = set()
        self._waiting: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {}
        """Pod uid -> (pod, path of the created object, the template's resource)."""

    def pod_event(self, api: client.ApiClient, pod: dict[str, Any]) -> None:
        self._seen(api, pod)

    def after_watch(self, api: client.ApiClient) -> None:
        self._poll(api)

    def _seen(self, api: client.ApiClient, pod: dict[str, Any]) -> None:
        uid = str(pod["metadata"].get("uid"))
        action = resource_action(pod)
        if action is None or uid in self._handled or pod.get("status", {}).get("phase") != "Running":
            return
        self._handled.add(uid)
        resource = template_of(pod).get("resource", {})
        if action != "create":
            self._finish(api, pod, 1, f"the test stand-in plays `argoexec resource create` only, not {action!r}")
            return
        manifest = yaml.safe_load(resource.get("manifest", ""))
        manifest.setdefault("metadata", {}).setdefault("namespace", pod["metadata"]["namespace"])
        account = pod["spec"].get("serviceAccountName", "default")
        user = f"system:serviceaccount:{pod['metadata']['namespace']}:{account}"
        try:
            with api_client(self._kubeconfig, impersonate=user) as as_pod:
                created = kubeapply.request(as_pod, "POST", object_path(manifest, collection=True), manifest)
        except client.ApiException as exc:  # argoexec: kubectl's error, the pod fails
            self._finish(api, pod, 1, f"kubectl create failed: {exc.status} {exc.reason}: {exc.body}")
            return
        self._waiting[uid] = (pod, object_path(created), resource)

    def _poll(self, api: client.ApiClient) -> None:
        for uid, (pod, path, resource) in list(self._waiting.items()):
            try:
                obj = kubeapply.request(api, "GET", path)
            except client.ApiException as exc:
                if exc.status != 404:
                    continue
                self._finish(api, pod, 1, "The resource has been deleted while its status was still being checked")
                del self._waiting[uid]
                continue
            result = outcome(obj, resource)
            if result is not None:
                self._finish(api, pod, *result)
                del self._waiting[uid]

    def _finish(self, api: client.ApiClient, pod: dict[str, Any], exit_code: int, message: str) -> None:
        """Complete the pod as the kubelet would report it: `main` terminated with `exit_code`."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        started = pod.get("status", {}).get("startTime", now)
        terminated = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": started,
            "finishedAt": now,
            **({"message": message} if message else {}),
        }
        status = {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {"terminated": terminated},
                }
                for c in pod["spec"]["containers"]
            ],
        }
        core = client.CoreV1Api(api)
        for _ in range(3):
            try:
                core.patch_namespaced_pod_status(
                    pod["metadata"]["name"], pod["metadata"]["namespace"], {"status": status}
                )
                return
            except client.ApiException as exc:
                if exc.status == 404:
                    return
                time.sleep(POLL_SECONDS)
