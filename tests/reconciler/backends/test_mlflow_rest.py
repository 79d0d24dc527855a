"""The REST layer's retry policy, against a tiny local HTTP server that fails on purpose."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reconciler.backends.base import BackendError
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest


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
