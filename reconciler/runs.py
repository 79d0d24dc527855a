"""Submitting and following a pipeline run, as the person who asked for it.

`mlcp apply` writes as mlcp (its controller, or a tenant's confined deployer); a
run is different: it is started by a person, so it goes to the API server
under the caller's OWN identity — the operator's kubeconfig and context
(`Targets`), never an impersonated account and never anything the config repo
names. RBAC then decides who may run what: a member of the tenant may, anyone
else gets the API server's 403 back as a clear error. The transport is the
same `KubeClient` the backend uses (so only the Kubernetes client imports the
`kubernetes` package), built from the caller's kubeconfig.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from controlplane import runs
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backends.kubernetes_objects import ResourceType
from reconciler.targets import Targets

WORKFLOWS = ResourceType(f"{runs.ARGO_GROUP}/{runs.ARGO_VERSION}", "Workflow", "workflows", True)
TEMPLATES = ResourceType(f"{runs.ARGO_GROUP}/{runs.ARGO_VERSION}", "WorkflowTemplate", "workflowtemplates", True)
SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
POLL_SECONDS = 1.0


def caller_client(targets: Targets) -> KubeClient:
    """A client as the caller: their kubeconfig and context, exactly as kubectl would use them."""
    try:
        return KubeClient.from_kubeconfig(targets.resolved_kubeconfig(), targets.context, targets.controller_namespace)
    except BackendError as exc:
        raise runs.RunError(str(exc), "pass --kubeconfig or set $KUBECONFIG") from None


def _failure(exc: BackendError, doing: str, request: runs.RunRequest) -> runs.RunError:
    """An API error as one sentence: a 403 names who was refused and what would fix it."""
    if isinstance(exc, HttpError):
        if exc.status == 403:
            return runs.RunError(
                f"forbidden: cannot {doing}: {exc}",
                f"runs use your own Kubernetes identity; ask tenant {request.tenant}'s owners to add you "
                "(tenant.yaml members) or use a context that is a member",
            )
        if exc.status == 401:
            return runs.RunError(f"unauthorized: cannot {doing}: {exc}", "your credentials were not accepted")
        return runs.RunError(f"cannot {doing}: {exc.status} {exc}")
    return runs.RunError(f"cannot {doing}: {exc}", "check --kubeconfig/--context")


def governed_template(api: KubeClient, request: runs.RunRequest) -> dict[str, Any]:
    """The WorkflowTemplate mlcp applied for the pipeline; a RunError when it is missing or not mlcp's."""
    try:
        template = api.request("GET", TEMPLATES.path(request.namespace, request.pipeline))
    except HttpError as exc:
        if exc.status == 404:
            raise runs.RunError(
                f"no WorkflowTemplate {request.namespace}/{request.pipeline}: the pipeline is not applied yet",
                "`mlcp apply` the config repo (or wait for the reconcile loop), then run again",
            ) from None
        raise _failure(exc, f"read WorkflowTemplate {request.namespace}/{request.pipeline}", request) from None
    except BackendError as exc:
        raise _failure(exc, "read the WorkflowTemplate", request) from None
    runs.check_governed(request, template)
    return template


def submit(api: KubeClient, request: runs.RunRequest) -> dict[str, Any]:
    """Create the run's Workflow as the caller; the created object (with its generated name)."""
    try:
        return api.request("POST", WORKFLOWS.collection(request.namespace), body=runs.workflow_manifest(request))
    except BackendError as exc:
        raise _failure(exc, f"create a Workflow in namespace {request.namespace}", request) from None


def whoami(api: KubeClient) -> str | None:
    """The caller's user name as the API server authenticated it (a SelfSubjectReview); None if unknown."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        review = api.request("POST", SELF_SUBJECT_REVIEWS, body=body)
    except BackendError:
        return None
    user = (review.get("status") or {}).get("userInfo") or {}
    return str(user["username"]) if user.get("username") else None


def follow(
    api: KubeClient,
    request: runs.RunRequest,
    name: str,
    on_update: Callable[[runs.RunStatus], None],
) -> runs.RunStatus:
    """Read the run until it finishes, calling `on_update` whenever its status changes; the final status."""
    last: runs.RunStatus | None = None
    while True:
        try:
            workflow = api.request("GET", WORKFLOWS.path(request.namespace, name))
        except BackendError as exc:
            raise _failure(exc, f"read Workflow {request.namespace}/{name}", request) from None
        status = runs.status_of(workflow)
        if status != last:
            on_update(status)
            last = status
        if status.finished:
            return status
        time.sleep(POLL_SECONDS)
