"""Live objects as the planner keeps them: reduced to what the diff reads, equal field sets shared; a kubeconfig
the client cannot read is one error naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import urllib3

from controlplane.diffing import managed_diff
from reconciler.backends import kubernetes_client
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes import BY_KIND
from reconciler.backends.kubernetes_client import KubeClient, live_object

ROLE_BINDING = BY_KIND[("rbac.authorization.k8s.io/v1", "RoleBinding")]


def _listed(namespace: str, version: str, subject: str) -> dict[str, Any]:
    """A RoleBinding as a LIST item: no apiVersion or kind, mlcp's entry with its own write time."""
    fields = {
        "f:metadata": {"f:labels": {"f:app.kubernetes.io/managed-by": {}}},
        "f:roleRef": {},
        "f:subjects": {},
    }
    return {
        "metadata": {
            "name": "mlcp-edit",
            "namespace": namespace,
            "uid": f"uid-{namespace}",
            "resourceVersion": version,
            "labels": {"app.kubernetes.io/managed-by": "mlcp"},
            "managedFields": [
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields,
                    "manager": "mlcp",
                    "operation": "Apply",
                    "time": f"2026-11-30T10:00:0{version[-1]}Z",
                }
            ],
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": subject}],
    }


def _desired(namespace: str, subject: str) -> dict[str, Any]:
    item = _listed(namespace, "1", subject)
    del item["metadata"]["managedFields"], item["metadata"]["uid"], item["metadata"]["resourceVersion"]
    return {"apiVersion": ROLE_BINDING.api_version, "kind": ROLE_BINDING.kind, **item}


def test_objects_of_one_shape_share_one_field_set_and_keep_their_version() -> None:
    a = live_object(ROLE_BINDING, _listed("team-a", "11", "a@example.com"))
    b = live_object(ROLE_BINDING, _listed("team-b", "12", "b@example.com"))
    assert (a.version, b.version) == ("11", "12"), "the version survives the bookkeeping metadata dropped"
    assert a.manifest["metadata"]["managedFields"] is b.manifest["metadata"]["managedFields"]
    assert a.manifest["kind"] == "RoleBinding" and a.manifest["apiVersion"] == ROLE_BINDING.api_version
    assert "uid" not in a.manifest["metadata"]


def test_a_shared_field_set_still_finds_each_objects_own_drift() -> None:
    a = live_object(ROLE_BINDING, _listed("team-a", "11", "a@example.com"))
    b = live_object(ROLE_BINDING, _listed("team-b", "12", "intruder@example.com"))
    assert managed_diff(_desired("team-a", "a@example.com"), a.manifest) == []
    [drift] = managed_diff(_desired("team-b", "b@example.com"), b.manifest)
    assert drift.path == ("subjects",) and drift.old == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "intruder@example.com"}
    ]
    without_subjects = _desired("team-a", "a@example.com")
    del without_subjects["subjects"]
    [dropped] = managed_diff(without_subjects, a.manifest)
    assert dropped.path == ("subjects",) and dropped.new is None, "a field mlcp owns but no longer sets is removed"


def test_equal_names_and_label_values_of_different_objects_are_one_string_and_the_diff_is_unchanged() -> None:
    first, second = _listed("team-a", "11", "a@example.com"), _listed("team-a", "12", "a@example.com")
    first["metadata"]["labels"]["mlcp.dev/tenant"] = "".join(["team", "-a"])  # equal, not the same object
    second["metadata"]["labels"]["mlcp.dev/tenant"] = "".join(["team", "-", "a"])
    assert first["metadata"]["labels"]["mlcp.dev/tenant"] is not second["metadata"]["labels"]["mlcp.dev/tenant"]
    a, b = live_object(ROLE_BINDING, first), live_object(ROLE_BINDING, second)
    a_meta, b_meta = a.manifest["metadata"], b.manifest["metadata"]
    assert a_meta["labels"]["mlcp.dev/tenant"] is b_meta["labels"]["mlcp.dev/tenant"] is a_meta["namespace"]
    assert a_meta["name"] is b_meta["name"]
    assert a.ref.namespace is a_meta["namespace"], "the ref holds the shared string too"
    desired = _desired("team-a", "a@example.com")
    desired["metadata"]["labels"]["mlcp.dev/tenant"] = "team-a"
    assert managed_diff(desired, a.manifest) == []


def test_an_error_after_the_request_may_have_been_sent_is_unanswered_and_a_refused_connection_is_not() -> None:
    """A write whose answer was lost may have happened (Outcome.uncertain keeps its inventory record); a
    connection that never opened sent nothing."""
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 1)
    never_opened = urllib3.exceptions.NewConnectionError(pool.ConnectionCls("127.0.0.1", 1), "refused")
    assert not kubernetes_client._unanswered(never_opened)
    assert not kubernetes_client._unanswered(urllib3.exceptions.MaxRetryError(pool, "/", never_opened))
    assert not kubernetes_client._unanswered(urllib3.exceptions.ConnectTimeoutError("connect timed out"))
    assert kubernetes_client._unanswered(urllib3.exceptions.ReadTimeoutError(pool, "/", "read timed out"))
    assert kubernetes_client._unanswered(urllib3.exceptions.ProtocolError("Connection aborted."))
    assert kubernetes_client.HttpError(504, "Gateway Timeout", {}).uncertain
    assert not kubernetes_client.HttpError(409, "Conflict", {}).uncertain


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"a: [\n", "ParserError: while parsing a flow node"),
        (b"\xff\xfe\x00", "UnicodeDecodeError"),
        (b"- 1\n- 2\n", "TypeError"),
        (b"contexts: 5\ncurrent-context: a\n", "TypeError"),
        (b"apiVersion: v1\nclusters: [{name: c, cluster: {server: 5}}]\ncontexts: [{name: a, context: {cluster: c, "
         b"user: u}}]\nusers: [{name: u, user: {token: t}}]\ncurrent-context: a\n", "AttributeError"),
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "RecursionError"),
    ],
    ids=["not-yaml", "not-utf8", "a-list", "contexts-a-number", "server-a-number", "nested-deeply"],
)  # fmt: skip
def test_a_kubeconfig_of_another_shape_is_a_backend_error_naming_it(tmp_path: Path, content: bytes, said: str) -> None:
    """The official client reads the file as it finds it: only its ConfigException and OSError were caught, so a
    kubeconfig that is no YAML, no UTF-8 or a YAML list ended every command with a traceback."""
    path = tmp_path / "kubeconfig"
    path.write_bytes(content)
    with pytest.raises(BackendError) as refused:
        KubeClient.from_kubeconfig(str(path), None, "mlcp-system")
    assert f"cannot load kubeconfig {path}: it is not a kubeconfig (" in str(refused.value)
    assert said in str(refused.value)
