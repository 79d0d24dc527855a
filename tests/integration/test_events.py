"""The loop's Events reach the real API server as `kubectl describe` will show them: capped, fenced, shown safe."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.plans import Action, Change, ObjectRef, SpecKey
from reconciler import events
from reconciler.backends.base import Outcome, Status
from reconciler.backends.kubernetes_client import KubeClient

pytestmark = pytest.mark.integration


def _failed(namespace: str, name: str, message: str) -> Outcome:
    ref = ObjectRef("kubernetes", "v1", "ConfigMap", namespace, name)
    change = Change(ref, Action.create, "new", SpecKey("Quota", "vision", name), "vision", None, 0)
    return Outcome(change, Status.failed, message)


def _events(kube: KubeClient, namespace: str) -> list[dict[str, object]]:
    return kube.request("GET", f"/api/v1/namespaces/{namespace}/events")["items"]  # type: ignore[no-any-return]


def test_events_are_posted_capped_and_shown_safe(
    kubeconfig: Path, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = KubeClient.from_kubeconfig(str(kubeconfig), None, namespace)
    monkeypatch.setattr(events, "MAX_PER_PASS", 3)
    outcomes = [_failed(namespace, f"cm-{i}", f"refused \x1b]0;owned\x07 value {i}") for i in range(5)]
    posted = events.publish(kube, outcomes, "0123456789abcdef", "mlcp-test", lambda: True)
    assert posted == 3, "capped per pass"
    stored = _events(kube, namespace)
    assert len(stored) == 3
    for event in stored:
        assert event["reason"] == "ApplyFailed" and event["type"] == "Warning"
        message = str(event["message"])
        assert "\x1b" not in message and "\x07" not in message and "\\x1b]0;owned\\x07" in message


def test_no_event_is_posted_once_the_fence_is_lost(kubeconfig: Path, namespace: str) -> None:
    kube = KubeClient.from_kubeconfig(str(kubeconfig), None, namespace)
    posted = events.publish(kube, [_failed(namespace, "cm", "refused")], "abc", "mlcp-test", lambda: False)
    assert posted == 0 and _events(kube, namespace) == []
