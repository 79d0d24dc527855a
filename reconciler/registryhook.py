"""MLflow's model registry webhooks: a hand move of a governed alias wakes the loop within seconds.

An alias moved outside mlcp is drift; the next pass plans it back (the
registry's review marks it) and audits "drift healed". Waiting for the next
interval would leave the wrong model serving for up to that long, so the
loop registers a webhook of its own with MLflow (open-source MLflow 3.x, SQL
backends) for `model_version_alias.created` and `.deleted`, and a delivery
requests a pass at once. A server that does not support webhooks (file
store, older versions, managed services) leaves the loop polling: every
interval's pass reads the aliases anyway.

Like the git webhook (webhook.py), a delivery is only "look now": the pass
reads the registry itself and trusts nothing in the payload. Even so it
must prove it knows the secret: MLflow signs `<delivery id>.<timestamp>.<body>`
with HMAC-SHA256 (`X-MLflow-Signature: v1,<base64>`); the comparison is
constant-time, a timestamp more than `TOLERANCE` seconds away is refused
(an old capture), and a delivery ID or body seen within the replay window is
refused (a fresh replay). The secret is the operator's (an environment
variable) or made up at start; mlcp gives it to MLflow when it registers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controlplane import digits
from reconciler import logs, webhook
from reconciler.backends.base import BackendError
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest

SIGNATURE = "x-mlflow-signature"
TIMESTAMP = "x-mlflow-timestamp"
DELIVERY = "x-mlflow-delivery-id"
VERSION = "v1"
TOLERANCE = 300.0
"""Seconds a delivery's timestamp may differ from now (MLflow retries for about a minute)."""
EVENTS = (
    {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"},
    {"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"},
)
"""As the REST API spells them (the proto's enum names); deliveries spell them `model_version_alias.created`."""
PATH = "/registry-webhook"


def signature(secret: bytes, delivery: str, timestamp: str, body: bytes) -> str:
    """MLflow's signature of one delivery (mlflow/webhooks/delivery.py): `v1,<base64 HMAC-SHA256>`."""
    signed = delivery.encode() + b"." + timestamp.encode() + b"." + body
    return f"{VERSION}," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()


def verify(headers: Mapping[str, str], body: bytes, secret: bytes, now: float) -> tuple[bool, str]:
    """Whether a delivery carries MLflow's signature under `secret`, sent within TOLERANCE of `now`."""
    lower = {k.lower(): v for k, v in headers.items()}
    delivery, stamp, given = lower.get(DELIVERY, ""), lower.get(TIMESTAMP, ""), lower.get(SIGNATURE, "")
    expected = signature(secret, delivery, stamp, body)
    matches = hmac.compare_digest(given.strip().encode(), expected.encode())
    if not delivery or not stamp or not given:
        return False, "no X-MLflow-Signature, X-MLflow-Timestamp or X-MLflow-Delivery-Id header"
    if not matches:
        return False, "bad signature"
    sent = digits.number(stamp)
    if sent is None or abs(now - sent) > TOLERANCE:
        return False, f"timestamp {stamp[:20]!r} is more than {TOLERANCE:.0f}s from now"
    return True, "mlflow"


def alias_event(body: bytes) -> str | None:
    """`created`/`deleted` for an alias event (model and alias are not trusted: the pass reads them), else None."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("entity") != "model_version_alias":
        return None
    action = payload.get("action")
    return str(action) if action in ("created", "deleted") else None


@dataclass
class RegistryHook:
    """What the endpoint needs: the secret, what an alias event triggers, the deliveries seen, limits."""

    secret: bytes
    on_event: Callable[[], None]
    deliveries: webhook.Deliveries
    max_body: int
    clock: Callable[[], float] = time.time


def handle(hook: RegistryHook, environ: Mapping[str, Any]) -> tuple[int, bytes]:
    """(status, body) for one request to /registry-webhook; the answers say nothing beyond their status."""
    if environ.get("REQUEST_METHOD") != "POST":
        return 405, b"method not allowed\n"
    length = digits.number(str(environ.get("CONTENT_LENGTH") or ""))
    if length is None:
        return 411, b"length required\n"
    if length > hook.max_body:
        return 413, b"payload too large\n"
    body = environ["wsgi.input"].read(length)
    headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    ok, why = verify(headers, body, hook.secret, hook.clock())
    peer = environ.get("REMOTE_ADDR")
    if not ok:
        logs.get().warning("registry webhook refused", extra={"why": why, "peer": peer})
        return 403, b"forbidden\n"
    ident = headers.get(DELIVERY)
    if not hook.deliveries.first_time(ident, body):
        logs.get().warning("registry webhook refused: delivery already seen", extra={"delivery": ident, "peer": peer})
        return 409, b"already delivered\n"
    event = alias_event(body)
    if event is not None:
        logs.get().info("registry webhook: alias %s, pass requested", event, extra={"delivery": ident})
        hook.on_event()
    return 202, b"accepted\n"


def register(rest: MlflowRest, name: str, url: str, secret: bytes) -> tuple[bool, str]:
    """Create (or update, by name) mlcp's webhook on the MLflow server; (registered, what happened).

    Not registered when the server does not support webhooks or refuses the URL: the caller polls instead.
    """
    body = {"url": url, "events": list(EVENTS), "secret": secret.decode(), "status": "ACTIVE"}
    try:
        found = rest.get("webhooks", max_results=1000).get("webhooks") or []
        mine = next((w for w in found if w.get("name") == name), None)
        if mine is not None:
            rest.call("PATCH", f"webhooks/{mine['webhook_id']}", {"name": name, **body})
            return True, f"updated MLflow webhook {name!r} ({mine['webhook_id']}) → {url}"
        created = rest.post("webhooks", name=name, description="mlcp: heal hand-moved aliases", **body)
        return True, f"registered MLflow webhook {name!r} ({(created.get('webhook') or {}).get('webhook_id')}) → {url}"
    except MlflowApiError as exc:
        return False, f"MLflow did not take the webhook ({exc}); polling every interval instead"
    except BackendError as exc:
        return False, f"MLflow could not be reached to register the webhook ({exc}); polling every interval instead"
