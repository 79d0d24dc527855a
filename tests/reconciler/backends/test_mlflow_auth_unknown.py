"""A tracking server whose auth cannot be told (a 5xx, a proxy's redirect or page) has its records refused.

mlcp trusts its record store without checking who may write it only when the
server itself says it runs no auth. Taking "cannot tell" for "no auth" let a
store someone else made (and can still write) decide whose objects are whose
whenever the auth probe answered oddly: a proxy in front of a basic-auth MLflow
is enough. The probe is answered by a tiny local HTTP server; the store by the
inventory tests' fake.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from controlplane.inventory import Claim
from reconciler.backends import mlflow_records
from reconciler.backends.base import ApplyOptions, BackendError
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_rest import MlflowRest
from tests.reconciler.backends.test_mlflow_inventory import EXP, OWN, RECORD, FakeMlflow
from tests.reconciler.backends.test_mlflow_record_trust import AuthMlflow, _squatted


class Probe(BaseHTTPRequestHandler):
    """Answers every GET with `answer`: (status, headers, body)."""

    answer: ClassVar[tuple[int, dict[str, str], bytes]] = (200, {}, b"{}")

    def do_GET(self) -> None:
        status, headers, body = Probe.answer
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Probe)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


JSON = {"Content-Type": "application/json"}
UNKNOWN = {
    "a 5xx": (503, {}, b"upstream down"),
    "a redirect to a login page": (302, {"Location": "/login"}, b""),
    "a proxy's page": (200, {"Content-Type": "text/html"}, b"<html>sign in</html>"),
    "forbidden": (403, {}, b""),
}


@pytest.mark.parametrize("answer", UNKNOWN.values(), ids=UNKNOWN.keys())
def test_an_odd_answer_to_the_probe_is_unknown_not_no_auth(
    server: str, answer: tuple[int, dict[str, str], bytes]
) -> None:
    Probe.answer = answer
    rest = MlflowRest(server)
    assert rest.auth_enabled() is None
    assert str(answer[0]) in rest.auth_unknown


def test_the_server_own_answers_are_known(server: str) -> None:
    rest = MlflowRest(server)
    Probe.answer = (401, {}, b"")
    assert rest.auth_enabled() is True
    Probe.answer = (200, JSON, b'{"experiments": []}')
    assert rest.auth_enabled() is False and rest.auth_unknown == ""
    assert MlflowRest("http://127.0.0.1:1").auth_enabled() is None, "no answer at all"


class Proxied(MlflowRest):
    """A fake MLflow whose auth probe goes to `probe` (a proxy in front of it) once that is set."""

    probe: str | None = None

    def auth_enabled(self) -> bool | None:
        if self.probe is None:
            return super().auth_enabled()
        uri, self.uri = self.uri, self.probe
        try:
            return MlflowRest.auth_enabled(self)
        finally:
            self.uri = uri


class BehindProxy(Proxied, AuthMlflow):
    """Carol's squatted store on a basic-auth MLflow, reached through a proxy that answers mlcp's probe itself."""


class NoAuthBehindProxy(Proxied, FakeMlflow):
    """mlcp's own store on a server without auth, until a proxy answers the probe."""


@pytest.mark.parametrize("answer", UNKNOWN.values(), ids=UNKNOWN.keys())
def test_her_store_is_not_trusted_when_auth_cannot_be_told(
    server: str, answer: tuple[int, dict[str, str], bytes]
) -> None:
    Probe.answer = answer
    rest = BehindProxy()
    rest.probe = server
    rest.add(EXP.name, OWN)
    _squatted(rest)  # she can write it: judged under auth, it is refused
    backend = MlflowBackend(rest)
    with pytest.raises(BackendError, match=r"cannot tell whether MLflow .* runs basic-auth") as refused:
        backend.read()
    assert str(answer[0]) in str(refused.value)
    assert backend.store.records == {} and not backend.store.exists, "none of her records is read"
    assert backend.record_problems == (str(refused.value),), "reported as a refused store is (rule record-store)"
    assert backend.record_problems[0] in backend.notes
    with pytest.raises(BackendError):  # nor written after
        backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=True)}))
    assert not rest.writes
    with pytest.raises(BackendError, match="cannot tell"):  # `mlcp promotions history` reads them the same way
        mlflow_records.checked(rest, "mlcp-system")


def test_an_earlier_reads_records_are_dropped_when_auth_becomes_unknown(server: str) -> None:
    rest = NoAuthBehindProxy()
    backend = MlflowBackend(rest)
    backend.read()
    backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=True)}))
    assert backend.read().inventory.records[EXP] == RECORD
    Probe.answer = UNKNOWN["a 5xx"]
    rest.probe = server
    with pytest.raises(BackendError, match="cannot tell"):
        backend.read()
    assert backend.store.records == {} and backend.record_problems
