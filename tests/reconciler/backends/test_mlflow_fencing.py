"""Registry writes inside the fence, against a local stand-in for MLflow that hangs, fails or races on purpose.

A leader whose lease runs out in the middle of an alias move must stop talking to the registry when its time
is up: no request may start after it, and neither a hung request nor retries may run past it. And a move that
someone else overwrites at the same moment must come back as a conflict, not as success.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from controlplane.plans import Action, Change, Decision, ObjectRef, SpecKey
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.deadline import DeadlineExceeded
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_rest import MlflowRest
from reconciler.fencing import Fence, FencedBackend

MODEL, ALIAS = "vision-detector", "production"


@dataclass
class Registry:
    """What the stand-in does: the alias's version, how it misbehaves, and every request it saw (and when)."""

    version: str = "1"
    hang: float = 0.0
    """Seconds an alias move waits before answering (a hung server)."""
    unavailable: bool = False
    """Answer every write with 503 (retried by the client)."""
    racer: str | None = None
    """A version someone else moves the alias to right after each move."""
    seen: list[tuple[float, str, str]] = field(default_factory=list)


def handler(registry: Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def do_GET(self) -> None:
            url = urlparse(self.path)
            registry.seen.append((time.monotonic(), "GET", url.path))
            assert parse_qs(url.query)["alias"] == [ALIAS]
            self._answer(200, {"model_version": {"name": MODEL, "version": registry.version}})

        def do_POST(self) -> None:
            registry.seen.append((time.monotonic(), "POST", self.path))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            if registry.unavailable:
                self._answer(503, {})
                return
            if self.path.endswith("registered-models/alias"):
                time.sleep(registry.hang)
                registry.version = registry.racer or str(body["version"])
            self._answer(200, {})

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def registry() -> Iterator[tuple[Registry, str]]:
    state = Registry()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _move() -> Change:
    ref = ObjectRef("mlflow", "mlflow.org/v1", "ModelAlias", None, f"{MODEL}@{ALIAS}")
    desired = {"model": MODEL, "alias": ALIAS, "version": "2", "provenance": {"commit": "c0ffee"}}
    decision = Decision(True, "tenant-developer", "allowed", ("alice@example.com",))
    return Change(ref, Action.update, "moves", SpecKey.parse("ModelPromotion/vision/prod"), "vision", "p.yaml", 60,
                  desired=desired, live_version="1", decision=decision)  # fmt: skip


def _lease(seconds: float) -> tuple[Fence, float]:
    """A fence whose lease, like LeaderElector.remaining, runs out `seconds` from now (and the monotonic end)."""
    until = time.monotonic() + seconds
    return Fence(leading=lambda: time.monotonic() < until, remaining=lambda: until - time.monotonic()), until


def test_a_move_to_a_hung_registry_ends_when_the_lease_does(registry: tuple[Registry, str]) -> None:
    state, uri = registry
    state.hang = 20.0  # the move would wait 20 s; the client's own read timeout is 30 s, times 4 attempts
    fence, until = _lease(1.0)
    began = time.monotonic()
    outcome = FencedBackend(MlflowBackend(MlflowRest(uri)), fence).apply(_move(), ApplyOptions())
    took = time.monotonic() - began
    assert took < 1.5, f"the move outlived the lease by {took - 1.0:.1f}s"
    assert outcome.status is Status.failed
    assert "did not complete" in outcome.message and "may or may not have moved" in outcome.message
    assert all(at < until for at, _, _ in state.seen), "a request started after the lease ran out"
    assert [m for _, m, p in state.seen if p.endswith("set-tag")] == [], "no provenance tag after the lease"


def test_retries_stop_when_the_lease_does(registry: tuple[Registry, str]) -> None:
    state, uri = registry
    state.unavailable = True
    rest = MlflowRest(uri, attempts=10, backoff=1.0)  # unbounded: 9 waits of 1, 2, 4, 5, 5 ... seconds
    fence, until = _lease(0.8)
    began = time.monotonic()
    outcome = FencedBackend(MlflowBackend(rest), fence).apply(_move(), ApplyOptions())
    assert time.monotonic() - began < 1.3
    assert outcome.status is Status.failed and "lease" in outcome.message
    assert all(at < until for at, _, _ in state.seen)


def test_no_request_starts_once_the_time_is_up_and_other_threads_are_not_limited(
    registry: tuple[Registry, str],
) -> None:
    _, uri = registry
    rest = MlflowRest(uri)
    elsewhere: list[str] = []
    with rest.bounded(lambda: 0.0):
        with pytest.raises(DeadlineExceeded, match="was not sent"):
            rest.post("registered-models/alias", name=MODEL, alias=ALIAS, version="2")
        reader = threading.Thread(
            target=lambda: elsewhere.append(str(rest.get("registered-models/alias", alias=ALIAS)))
        )
        reader.start()
        reader.join()
    assert rest.calls["registered-models/alias"] == 1, "only the other thread's read was sent"
    assert elsewhere and "model_version" in elsewhere[0]
    assert rest.post("registered-models/alias", name=MODEL, alias=ALIAS, version="2") == {}, "no limit after"


def test_an_unfenced_backend_keeps_its_own_timeouts(registry: tuple[Registry, str]) -> None:
    state, uri = registry
    state.hang = 0.3
    outcome = FencedBackend(MlflowBackend(MlflowRest(uri)), Fence()).apply(_move(), ApplyOptions())
    assert outcome.status is Status.applied, outcome.message


def test_a_move_someone_overwrites_at_the_same_moment_is_a_conflict(registry: tuple[Registry, str]) -> None:
    state, uri = registry
    state.racer = "3"
    outcome = MlflowBackend(MlflowRest(uri)).apply(_move(), ApplyOptions())
    assert outcome.status is Status.failed
    assert outcome.message.startswith(f"conflict: {MODEL}@{ALIAS} is at 3 right after mlcp moved it to version 2")
    assert [p for _, m, p in state.seen if m == "POST"] == ["/api/2.0/mlflow/registered-models/alias"]
    assert state.version == "3", "mlcp did not move it back"


def test_a_lease_that_ran_out_before_the_change_never_touches_the_registry(registry: tuple[Registry, str]) -> None:
    state, uri = registry
    fence, _ = _lease(0.0)
    outcome = FencedBackend(MlflowBackend(MlflowRest(uri)), fence).apply(_move(), ApplyOptions())
    assert outcome.status is Status.skipped and outcome.message.startswith("not attempted: ")
    assert state.seen == []
