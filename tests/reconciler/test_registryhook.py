"""MLflow registry webhooks: MLflow's signature verified, old and replayed deliveries refused, alias events wake.

The signature is built here the way MLflow's delivery code builds it
(`v1,` + base64 HMAC-SHA256 of `<delivery id>.<timestamp>.<body>`); the
integration test (test_registry_drift.py) proves it against real deliveries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from typing import Any

from reconciler import registryhook
from reconciler.webhook import Deliveries

SECRET = b"registry-s3cret"
NOW = 1_800_000_000.0


def _delivery(body: bytes, ident: str = "d-1", stamp: str = str(int(NOW)), secret: bytes = SECRET) -> dict[str, Any]:
    mac = hmac.new(secret, f"{ident}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "REQUEST_METHOD": "POST",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_X_MLFLOW_SIGNATURE": "v1," + base64.b64encode(mac).decode(),
        "HTTP_X_MLFLOW_TIMESTAMP": stamp,
        "HTTP_X_MLFLOW_DELIVERY_ID": ident,
    }


def _event(action: str = "created", stamp: str = "2027-01-15T08:00:00.000001+00:00") -> bytes:
    data = {"name": "m", "alias": "production", "version": "3"} if action == "created" else {"name": "m"}
    return json.dumps({"entity": "model_version_alias", "action": action, "timestamp": stamp, "data": data}).encode()


class Hook:
    def __init__(self) -> None:
        self.events = 0
        self.hook = registryhook.RegistryHook(SECRET, self._wake, Deliveries(3600, 100), 64 * 1024, lambda: NOW)

    def _wake(self) -> None:
        self.events += 1


def test_a_signed_alias_event_wakes_the_loop_once_and_a_replay_is_refused() -> None:
    target = Hook()
    body = _event()
    assert registryhook.handle(target.hook, _delivery(body)) == (202, b"accepted\n")
    assert target.events == 1
    assert registryhook.handle(target.hook, _delivery(body))[0] == 409, "the same delivery again"
    assert registryhook.handle(target.hook, _delivery(body, ident="d-2"))[0] == 409, "same body, new ID"
    assert registryhook.handle(target.hook, _delivery(_event("deleted"), ident="d-3"))[0] == 202
    assert target.events == 2


def test_forged_old_and_unsigned_deliveries_are_forbidden() -> None:
    target = Hook()
    body = _event()
    forged = _delivery(body, secret=b"guess")
    old = _delivery(body, stamp=str(int(NOW) - 301))
    future = _delivery(body, stamp=str(int(NOW) + 301))
    unsigned = _delivery(body)
    del unsigned["HTTP_X_MLFLOW_SIGNATURE"]
    tampered = _delivery(body)
    tampered["wsgi.input"] = io.BytesIO(body.replace(b"production", b"productiox"))
    for request in (forged, old, future, unsigned, tampered):
        assert registryhook.handle(target.hook, request) == (403, b"forbidden\n")
    assert target.events == 0


def test_other_events_and_methods_do_not_wake_the_loop() -> None:
    target = Hook()
    other = json.dumps({"entity": "model_version", "action": "created", "data": {}}).encode()
    assert registryhook.handle(target.hook, _delivery(other))[0] == 202 and target.events == 0
    assert registryhook.handle(target.hook, {"REQUEST_METHOD": "GET"})[0] == 405
    big = _delivery(b"x" * (64 * 1024 + 1))
    assert registryhook.handle(target.hook, big)[0] == 413
    assert registryhook.handle(target.hook, {**_delivery(_event()), "CONTENT_LENGTH": "-1"})[0] == 411
    assert target.events == 0


def test_a_timestamp_in_other_digits_or_too_long_to_read_is_refused_not_a_traceback() -> None:
    """A signed delivery whose timestamp is `"²"` (isdigit, but int() raises) or 5,000 digits (int() refuses them)
    ended in a ValueError; one in Arabic-Indic digits was read as a time."""
    target = Hook()
    arabic = str(int(NOW)).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for n, stamp in enumerate(("²", arabic, "9" * 5000)):
        assert registryhook.handle(target.hook, _delivery(_event(), ident=f"d-{n}", stamp=stamp)) == (
            403,
            b"forbidden\n",
        )
    assert target.events == 0
    odd_length = _delivery(_event())
    odd_length["CONTENT_LENGTH"] = "١٢"
    assert registryhook.handle(target.hook, odd_length)[0] == 411
