"""Against the real API server: followers flooded with webhook deliveries do not cost the leader its renewals.

Deliveries are anyone's to send (a script moving its own model's alias in MLflow makes the registry send
one each time). A follower forwards each to the leader by a PATCH of the leader's Lease, which bumps its
resourceVersion: a renewal that read the Lease before it got 409, and about a third of the leader's renewals
failed at 100 deliveries a second. Here three followers are flooded while the leader renews: no round may end
without its renewal written, the PATCHes stay within one per retry period per follower, and the leader still
hears of the deliveries.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.leader import LeaderElector
from reconciler.leases import LeaseConfig

pytestmark = pytest.mark.integration
RATE = 100.0
PERIOD = 0.5


def _elector(kubeconfig: Path, namespace: str, identity: str) -> LeaderElector:
    config = LeaseConfig(namespace, identity, duration=15, renew_deadline=10, retry_period=PERIOD)
    return LeaderElector(KubeClient.from_kubeconfig(str(kubeconfig), None, namespace), config)


def test_a_flood_of_forwarded_deliveries_fails_no_renewal_and_still_reaches_the_leader(
    kubeconfig: Path, namespace: str
) -> None:
    leader = _elector(kubeconfig, namespace, "leader")
    followers = [_elector(kubeconfig, namespace, f"follower-{i}") for i in range(3)]
    heard = threading.Event()
    leader.on_trigger = heard.set
    assert leader.step()
    written = {"renewals": 0, "conflicts": 0, "patches": 0}
    send = leader.kube.request

    def counting(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        try:
            answer = send(method, path, *args, **kwargs)
        except HttpError as exc:
            written["conflicts"] += method == "PUT" and exc.status == 409
            raise
        written["renewals"] += method == "PUT"
        return answer

    leader.kube.request = counting  # type: ignore[method-assign]
    for follower in followers:
        forward = follower.kube.request

        def patches(method: str, path: str, *args: Any, forward: Any = forward, **kwargs: Any) -> Any:
            written["patches"] += method == "PATCH"
            return forward(method, path, *args, **kwargs)

        follower.kube.request = patches  # type: ignore[method-assign]
    stop = threading.Event()

    def deliveries(follower: LeaderElector) -> None:
        while not stop.is_set():
            follower.trigger()
            time.sleep(1 / RATE)

    threads = [threading.Thread(target=deliveries, args=(f,), daemon=True) for f in followers for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    rounds, failed = 150, 0
    for _ in range(rounds):
        before = written["renewals"]
        leader.step()
        failed += written["renewals"] == before
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    print(f"\n{rounds} rounds in {elapsed:.1f}s: {written}")
    assert failed == 0, f"{failed} of {rounds} renewals failed under forwarded deliveries ({written})"
    assert written["patches"] <= len(followers) * (elapsed / PERIOD + 2), written
    assert heard.is_set(), "the leader never heard of a delivery"
    assert leader.may_write()
