"""The Events the loop publishes: one per written object, for `kubectl describe`, never raw outside text."""

from __future__ import annotations

from kubernetes.client import ApiClient, Configuration

from controlplane.plans import Action, Change, ObjectRef, SpecKey
from reconciler import events
from reconciler.backends.base import Outcome, Status
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.events import event_for


def _outcome(
    status: Status, message: str = "", *, namespace: str | None = "vision", system: str = "kubernetes"
) -> Outcome:
    ref = ObjectRef(system, "v1", "ResourceQuota", namespace, "compute")
    change = Change(ref, Action.update, "spec changed", SpecKey("Quota", "vision", "compute"), "vision", None, 0)
    return Outcome(change, status, message)


def test_an_applied_object_is_told_with_its_commit_and_spec() -> None:
    event = event_for(_outcome(Status.applied), "0123456789abcdef", "mlcp-0")
    assert event is not None
    assert (event["type"], event["reason"]) == ("Normal", "Applied")
    assert event["message"].startswith("update from commit 0123456789ab (Quota/vision/compute")
    assert event["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "name": "compute",
        "namespace": "vision",
    }
    assert event["metadata"] == {"generateName": "compute.", "namespace": "vision"}


def test_a_cluster_scoped_objects_event_goes_where_kubectl_looks() -> None:
    event = event_for(_outcome(Status.deleted, namespace=None), None, "mlcp-0")
    assert event is not None and event["metadata"]["namespace"] == "default" and event["reason"] == "Pruned"
    assert "namespace" not in event["involvedObject"]
    assert "from commit unknown" in event["message"]


def test_nothing_is_told_of_a_registry_change_or_a_change_not_made() -> None:
    assert event_for(_outcome(Status.applied, system="mlflow"), "abc", "mlcp-0") is None
    assert event_for(_outcome(Status.skipped), "abc", "mlcp-0") is None


def test_a_failure_quoting_a_tenants_value_cannot_drive_the_operators_terminal() -> None:
    """The API server's refusal quotes the value it refused; a tenant picks that value. `kubectl describe`
    prints an Event's message as it is, so ESC (cursor up, erase line) and a bidi override would act there."""
    hostile = 'metadata.labels: Invalid value: "x\x1b[1A\x1b[2KApplied\u202e": must be a valid label'
    event = event_for(_outcome(Status.failed, hostile), "abc", "mlcp-0")
    assert event is not None and event["type"] == "Warning"
    assert "\x1b" not in event["message"] and "\u202e" not in event["message"]
    assert "\\x1b[1A\\x1b[2KApplied\\u202e" in event["message"], "shown, visibly odd, not dropped"


def test_a_long_message_is_cut_to_what_the_api_server_keeps() -> None:
    event = event_for(_outcome(Status.failed, "x" * 5000), "abc", "mlcp-0")
    assert event is not None and len(event["message"]) == 1024


def test_an_event_is_never_posted_past_the_leases_time() -> None:
    # a deposed leader's Events waited the client's own 10 s read timeout after the lease check
    kube = KubeClient(ApiClient(Configuration(host="http://127.0.0.1:9")))
    sent: list[float | None] = []
    kube.request = lambda *_a, **_k: sent.append(kube.deadline.left()) or {}  # type: ignore[method-assign]
    posted = events.publish(kube, [_outcome(Status.applied)] * 3, "abc", "mlcp-0", lambda: True, lambda: 1.5)
    assert posted == 3 and sent == [1.5, 1.5, 1.5], "each post bounded by the lease's time left"
