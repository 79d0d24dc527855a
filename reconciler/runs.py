"""Submitting and following a pipeline run, as the person who asked for it.

`mlcp apply` writes as mlcp (its controller, or a tenant's confined deployer); a
run is different: it is started by a person, so it goes to the API server
under the caller's OWN identity — the operator's kubeconfig and context
(`Targets`), never an impersonated account and never anything the config repo
names. RBAC then decides who may run what: a member of the tenant may, anyone
else gets the API server's 403 back as a clear error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client
from kubernetes import config as kube_config
from urllib3.exceptions import HTTPError

from controlplane import runs
from reconciler.targets import Targets

ARGO = (runs.ARGO_GROUP, runs.ARGO_VERSION)
POLL_SECONDS = 1.0


def caller_client(targets: Targets) -> client.ApiClient:
    """An API client as the caller: their kubeconfig and context, exactly as kubectl would use them."""
    configuration = client.Configuration()
    try:
        kube_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=targets.resolved_kubeconfig(),
            context=targets.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (kube_config.ConfigException, OSError) as exc:
        where = targets.resolved_kubeconfig() or "~/.kube/config"
        raise runs.RunError(f"cannot load kubeconfig {where}: {exc}", "pass --kubeconfig or set $KUBECONFIG") from None
    return client.ApiClient(configuration)


def _failure(exc: Exception, doing: str, request: runs.RunRequest) -> runs.RunError:
    """An API error as one sentence: a 403 names who was refused and what would fix it."""
    if isinstance(exc, client.ApiException):
        reason = _server_message(exc)
        if exc.status == 403:
            return runs.RunError(
                f"forbidden: cannot {doing}: {reason}",
                f"runs use your own Kubernetes identity; ask tenant {request.tenant}'s owners to add you "
                "(tenant.yaml members) or use a context that is a member",
            )
        if exc.status == 401:
            return runs.RunError(f"unauthorized: cannot {doing}: {reason}", "your credentials were not accepted")
        return runs.RunError(f"cannot {doing}: {exc.status} {reason}")
    return runs.RunError(f"cannot {doing}: the API server is not reachable ({exc})", "check --kubeconfig/--context")


def _server_message(exc: client.ApiException) -> str:
    import json  # noqa: PLC0415 - only on errors

    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)


def governed_template(api: client.ApiClient, request: runs.RunRequest) -> dict[str, Any]:
    """The WorkflowTemplate mlcp applied for the pipeline; a RunError when it is missing or not mlcp's."""
    try:
        template = cast(
            dict[str, Any],
            client.CustomObjectsApi(api).get_namespaced_custom_object(
                *ARGO, request.namespace, "workflowtemplates", request.pipeline
            ),
        )
    except client.ApiException as exc:
        if exc.status == 404:
            raise runs.RunError(
                f"no WorkflowTemplate {request.namespace}/{request.pipeline}: the pipeline is not applied yet",
                "`mlcp apply` the config repo (or wait for the reconcile loop), then run again",
            ) from None
        raise _failure(exc, f"read WorkflowTemplate {request.namespace}/{request.pipeline}", request) from None
    except HTTPError as exc:
        raise _failure(exc, "read the WorkflowTemplate", request) from None
    runs.check_governed(request, template)
    return template


def submit(api: client.ApiClient, request: runs.RunRequest) -> dict[str, Any]:
    """Create the run's Workflow as the caller; the created object (with its generated name)."""
    try:
        created = cast(
            dict[str, Any],
            client.CustomObjectsApi(api).create_namespaced_custom_object(
                *ARGO, request.namespace, "workflows", runs.workflow_manifest(request)
            ),
        )
    except (client.ApiException, HTTPError) as exc:
        raise _failure(exc, f"create a Workflow in namespace {request.namespace}", request) from None
    return created


def whoami(api: client.ApiClient) -> str | None:
    """The caller's user name as the API server authenticated it (a SelfSubjectReview); None if unknown."""
    try:
        review = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview())
    except (client.ApiException, HTTPError):
        return None
    user = review.status.user_info if review.status else None
    return str(user.username) if user and user.username else None


def follow(
    api: client.ApiClient,
    request: runs.RunRequest,
    name: str,
    on_update: Callable[[runs.RunStatus], None],
) -> runs.RunStatus:
    """Read the run until it finishes, calling `on_update` whenever its status changes; the final status."""
    objects = client.CustomObjectsApi(api)
    last: runs.RunStatus | None = None
    while True:
        try:
            workflow = cast(
                dict[str, Any], objects.get_namespaced_custom_object(*ARGO, request.namespace, "workflows", name)
            )
        except (client.ApiException, HTTPError) as exc:
            raise _failure(exc, f"read Workflow {request.namespace}/{name}", request) from None
        status = runs.status_of(workflow)
        if status != last:
            on_update(status)
            last = status
        if status.finished:
            return status
        time.sleep(POLL_SECONDS)
