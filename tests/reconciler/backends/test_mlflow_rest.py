"""The REST layer's retry policy, against a tiny local HTTP server that fails on purpose."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from reconciler.backends.base import BackendError
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest, Unanswered


class Flaky(BaseHTTPRequestHandler):
    failures = 0
    status = 503

    def do_GET(self) -> None:
        if Flaky.failures > 0:
            Flaky.failures -= 1
            self.send_response(Flaky.status)
            self.end_headers()
            return
        body = json.dumps({"experiments": [{"name": "x"}]} if "search" in self.path else {"error_code": "NOPE"})
        self.send_response(200 if "search" in self.path else 400)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_5xx_is_retried_with_backoff_until_it_succeeds(server: str) -> None:
    Flaky.failures = 2
    rest = MlflowRest(server, backoff=0.01)
    assert [e["name"] for e in rest.search("experiments/search", "experiments", method="GET")] == ["x"]
    assert rest.calls["experiments/search"] == 3


def test_persistent_5xx_fails_cleanly_after_the_attempts(server: str) -> None:
    Flaky.failures = 10
    rest = MlflowRest(server, attempts=3, backoff=0.01)
    with pytest.raises(BackendError, match="gave up after retries"):
        rest.get("experiments/search")
    assert rest.calls["experiments/search"] == 3


def test_client_errors_are_not_retried(server: str) -> None:
    Flaky.failures = 0
    rest = MlflowRest(server, backoff=0.01)
    with pytest.raises(MlflowApiError, match="NOPE"):
        rest.get("experiments/get")
    assert rest.calls["experiments/get"] == 1


def test_unreachable_server_names_the_uri() -> None:
    rest = MlflowRest("http://127.0.0.1:9", attempts=2, backoff=0.01)
    with pytest.raises(BackendError, match=r"http://127\.0\.0\.1:9"):
        rest.get("experiments/search")


# -- what a failure after retries says: may the call have been done? -----------------------------------------


class ActsThenHangsUp(BaseHTTPRequestHandler):
    """Acts on every POST (creating the experiment it names), but hangs up without answering the first `drops`
    of them; later ones are answered, a create of an existing name refused as MLflow refuses it."""

    drops = 0
    status = 0
    """When set, every POST is answered with this status instead (a proxy's 502, an overloaded 503)."""
    made: ClassVar[set[str]] = set()

    def do_POST(self) -> None:
        name = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}").get("name", "")
        if ActsThenHangsUp.status:
            self.send_response(ActsThenHangsUp.status)
            self.end_headers()
            return
        exists = name in ActsThenHangsUp.made
        ActsThenHangsUp.made.add(name)
        if ActsThenHangsUp.drops > 0:
            ActsThenHangsUp.drops -= 1
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # done, and the answer is lost
            return
        body = {"error_code": "RESOURCE_ALREADY_EXISTS", "message": "exists"} if exists else {"experiment_id": "1"}
        answer = json.dumps(body).encode()
        self.send_response(400 if exists else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def lossy() -> Iterator[str]:
    ActsThenHangsUp.drops, ActsThenHangsUp.status, ActsThenHangsUp.made = 0, 0, set()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ActsThenHangsUp)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_refusal_of_a_retry_after_a_lost_answer_says_so(lossy: str) -> None:
    ActsThenHangsUp.drops = 1
    rest = MlflowRest(lossy, backoff=0.01)
    with pytest.raises(MlflowApiError, match="RESOURCE_ALREADY_EXISTS") as refused:
        rest.post("experiments/create", name="t/exp")
    assert refused.value.after_lost_answer, "the first attempt made it: the caller must look before it reports"
    assert rest.calls["experiments/create"] == 2
    with pytest.raises(MlflowApiError) as again:
        rest.post("experiments/create", name="t/exp")
    assert not again.value.after_lost_answer, "refused at the first attempt: someone else's"


def test_a_call_no_attempt_of_which_was_answered_is_unanswered(lossy: str) -> None:
    ActsThenHangsUp.drops = 10
    with pytest.raises(Unanswered, match="gave up after retries"):
        MlflowRest(lossy, attempts=2, backoff=0.01).post("experiments/create", name="t/exp")
    ActsThenHangsUp.status = 502  # a proxy's: the server behind it may have acted
    with pytest.raises(Unanswered):
        MlflowRest(lossy, attempts=2, backoff=0.01).post("experiments/create", name="t/other")


def test_a_call_that_surely_was_not_done_is_not_unanswered(lossy: str) -> None:
    ActsThenHangsUp.status = 503  # unavailable: refused before acting
    with pytest.raises(BackendError) as unavailable:
        MlflowRest(lossy, attempts=2, backoff=0.01).post("experiments/create", name="t/exp")
    assert not isinstance(unavailable.value, Unanswered)
    with pytest.raises(BackendError) as unreachable:
        MlflowRest("http://127.0.0.1:9", attempts=2, backoff=0.01).post("experiments/create", name="t/exp")
    assert not isinstance(unreachable.value, Unanswered), "no connection: nothing was sent"
