"""mlcp's server-side applies ask for `fieldValidation=Ignore`; the API server must still refuse unknown fields.

For an apply, field validation only decides what happens to duplicate keys; the typed conversion refuses an
unknown field whatever the directive says. These tests hold the API server to that, for a built-in kind and a
CRD, through mlcp's own client: if a future API server pruned unknown fields silently under `Ignore`, an object
mlcp rendered wrong would be applied short of what the plan showed, and these tests would fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backends.kubernetes_objects import CONFIGMAP

pytestmark = pytest.mark.integration


def _client(kubeconfig: Path, namespace: str) -> KubeClient:
    return KubeClient.from_kubeconfig(str(kubeconfig), None, namespace)


def _config_map(namespace: str, name: str, **fields: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, **fields}


def test_an_unknown_field_of_a_built_in_kind_is_refused(kubeconfig: Path, namespace: str) -> None:
    kube = _client(kubeconfig, namespace)
    body = _config_map(namespace, "unknown-field", data={"a": "b"}, dta={"typo": "of data"})
    with pytest.raises(HttpError, match=r"\.dta: field not declared in schema"):
        kube.server_side_apply(CONFIGMAP.path(namespace, "unknown-field"), body, "mlcp-test")
    with pytest.raises(HttpError) as absent:
        kube.request("GET", CONFIGMAP.path(namespace, "unknown-field"))
    assert absent.value.status == 404, "nothing was applied"


def test_an_unknown_field_of_a_custom_resource_is_refused(kubeconfig: Path, namespace: str) -> None:
    kube = _client(kubeconfig, namespace)
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflowtemplates/unknown-field"
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "unknown-field", "namespace": namespace},
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": {"image": "busybox", "comand": ["true"]}}],
        },
    }
    with pytest.raises(HttpError, match=r"\.comand: field not declared in schema"):
        kube.server_side_apply(path, body, "mlcp-test")


def test_a_well_formed_apply_still_lands(kubeconfig: Path, namespace: str) -> None:
    kube = _client(kubeconfig, namespace)
    body = _config_map(namespace, "well-formed", data={"a": "b"})
    applied = kube.server_side_apply(CONFIGMAP.path(namespace, "well-formed"), body, "mlcp-test")
    assert applied["data"] == {"a": "b"}
    assert [m["manager"] for m in applied["metadata"]["managedFields"]] == ["mlcp-test"]


def test_a_dry_run_leaves_no_trace_on_the_next_real_apply(kubeconfig: Path, namespace: str) -> None:
    """The query is shared between writes; a dry run's `dryRun=All` must stay with that one request.

    A plan-then-apply in one process (the loop, a script using the library) would otherwise report every
    later write as applied while the API server kept nothing."""
    kube = _client(kubeconfig, namespace)
    path = CONFIGMAP.path(namespace, "after-dry-run")
    body = _config_map(namespace, "after-dry-run", data={"a": "b"})
    kube.server_side_apply(path, body, "mlcp-test", dry_run=True)
    with pytest.raises(HttpError) as absent:
        kube.request("GET", path)
    assert absent.value.status == 404, "a dry run writes nothing"
    kube.server_side_apply(path, body, "mlcp-test")
    assert kube.request("GET", path)["data"] == {"a": "b"}, "the real apply after it was kept"
