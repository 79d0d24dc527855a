"""The engine with fake backends: it connects what the registry holds, from the operator's settings only, reads
every system (an unreachable one is reported, not raised), lets each backend review only its own changes, and
applies systems in each backend's order."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from controlplane.cli import plan_view
from controlplane.errors import Refused
from controlplane.plans import Action, Plan
from controlplane.specs.repo_config import RepoConfig
from reconciler import connecting, engine
from reconciler.applying import apply_plan, unchecked
from reconciler.backends import registry
from reconciler.backends.base import ApplyOptions, Backend, Expectation
from reconciler.backends.mlflow import MlflowBackend
from reconciler.targets import Targets
from tests.reconciler.fakes import FakeBackend, change


@dataclass
class FakeType:
    """A backend class as the registry holds it; remembers the settings it was connected with."""

    system: str
    order: int
    configured: bool = True
    connected_with: Targets | None = None

    def connect(self, targets: Targets) -> Backend | None:
        self.connected_with = targets
        return FakeBackend(system=self.system, order=self.order) if self.configured else None

    def expectations(self, config: RepoConfig, targets: Targets) -> Sequence[Expectation]:
        return [("cluster.context", config.cluster.context, targets.context, "--context")]


def _repo(**cluster: Any) -> Any:
    return SimpleNamespace(config=RepoConfig.model_validate({"cluster": cluster}))


@pytest.fixture
def types(monkeypatch: pytest.MonkeyPatch) -> list[FakeType]:
    found = [FakeType("store", 10), FakeType("cluster", 20), FakeType("unset", 30, configured=False)]
    monkeypatch.setattr(registry, "available", lambda: found)
    return found


def test_connect_builds_every_registered_backend_the_operator_configured(types: list[FakeType]) -> None:
    operator = Targets(context="prod")
    backends = connecting.connect(_repo(context="prod"), operator)
    assert list(backends) == ["store", "cluster"], "a backend the operator did not configure is left out"
    assert all(t.connected_with is operator for t in types), "connected from the operator's settings"
    assert all(isinstance(b, FakeBackend) and b.calls == ["confine"] for b in backends.values())


def test_a_repo_expecting_another_target_is_refused_before_anything_connects(types: list[FakeType]) -> None:
    with pytest.raises(Refused) as refused:
        connecting.connect(_repo(context="attacker"), Targets(context="prod"))
    assert refused.value.rule == connecting.OPERATOR_TARGETS
    assert "cluster.context 'attacker'" in str(refused.value) and "--context" in refused.value.hint
    assert all(t.connected_with is None for t in types)


def test_the_real_backends_register_themselves() -> None:
    found = {b.system: b.order for b in registry.available()}
    assert {"kubernetes", "mlflow"} <= set(found)
    assert found["mlflow"] < found["kubernetes"], "the registry moves aliases before serving points at them"


def test_a_second_backend_claiming_a_system_is_refused() -> None:
    registry.available()  # the real ones registered first
    with pytest.raises(registry.RegistryConflict, match="kubernetes"):
        registry.register(FakeType("kubernetes", 1))


def test_an_unreachable_system_is_reported_with_its_error_and_the_others_are_read() -> None:
    up = FakeBackend(system="up", notes=("basic-auth on",))
    down = FakeBackend(system="down", unreachable=True)
    states, statuses = connecting.read_live({"up": up, "down": down})
    assert list(states) == ["up"]
    by_name = {s.system: s for s in statuses}
    assert by_name["up"].reachable and by_name["up"].notes == ("basic-auth on",)
    assert not by_name["down"].reachable and "memory://fake is down" in (by_name["down"].error or "")


def test_each_backend_reviews_only_its_own_changes_in_plan_order() -> None:
    a, b = FakeBackend(system="a"), FakeBackend(system="b")
    planned = Plan(changes=(change("1", "a"), change("2", "b"), change("3", "a")))
    reviewed = engine.review(planned, {"a": a, "b": b})
    assert a.calls == ["review 1,3"] and b.calls == ["review 2"]
    assert [(c.ref.name, c.reason) for c in reviewed.changes] == [
        ("1", "reviewed by a"),
        ("2", "reviewed by b"),
        ("3", "reviewed by a"),
    ]


def test_apply_runs_systems_in_each_backends_order_and_deletes_after_writes() -> None:
    first, second = FakeBackend(system="first", order=10), FakeBackend(system="second", order=20)
    log: list[str] = []
    first.calls, second.calls = log, log
    changes = (
        change("gone", "first", Action.delete),
        change("late", "second"),
        change("early", "first"),
    )
    apply_plan(
        Plan(changes=changes), {"second": second, "first": first}, ApplyOptions(), concurrency=1, authorize=unchecked
    )
    writes = [c for c in log if c.startswith("apply")]
    assert writes == ["apply early", "apply late", "apply gone"]


# --- what a plan says of the systems it read ---------------------------------------------------------------


class _NoAuthMlflow(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = json.dumps({}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_the_plan_never_shows_the_tracking_uris_credentials() -> None:
    """User-info in the tracking URI (an MLflow behind a basic-auth proxy) went into every plan's header: text, JSON
    `systems[].target`, and the markdown comment the scaffolded CI posts on the pull request."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoAuthMlflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://ci:s3cretTOKEN@127.0.0.1:{server.server_address[1]}"
        backend = MlflowBackend.connect(Targets(tracking_uri=uri))
        assert backend is not None
        _, statuses = connecting.read_live({"mlflow": backend})
        plan = Plan((), revision="0" * 40, systems=tuple(statuses))
        comment = plan_view.markdown(plan)
        text = "\n".join(t for t, _ in plan_view.text_lines(plan))
        document = json.dumps(plan.to_dict())
        for shown in (comment, text, document):
            assert "s3cretTOKEN" not in shown
    finally:
        server.shutdown()


def test_an_unreachable_registrys_error_never_shows_the_tracking_uris_credentials() -> None:
    backend = MlflowBackend.connect(Targets(tracking_uri="http://ci:s3cretTOKEN@127.0.0.1:9"))
    assert backend is not None
    _, [status] = connecting.read_live({"mlflow": backend})
    assert not status.reachable and status.error
    assert "s3cretTOKEN" not in status.error and "s3cretTOKEN" not in status.target, status
    assert "http://***@127.0.0.1:9" in status.error
