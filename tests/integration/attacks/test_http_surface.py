"""An attacker on the network goes after a running controller (`mlcp reconcile`, real servers) over raw sockets.

The webhook listener faces the forge, so anyone can reach it: a negative
Content-Length, a slow-loris client dripping headers, an oversized body, a
forged signature and a replayed delivery. The controller answers each with a
short generic refusal, cuts the slow client off, keeps its metrics and probes
(on their own listener) answering all along, and still runs a pass for the
one genuine push — once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import configrepo
from tests.integration.reconcile_support import mlcp, wait_for

pytestmark = pytest.mark.integration
SECRET = "webhook-s3cret"
Controller = tuple[subprocess.Popen[bytes], int, int]
"""The `mlcp reconcile` process, its probes' port and its webhook's port."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def exchange(port: int, data: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        conn.sendall(data)
        out = b""
        while chunk := conn.recv(65536):
            out += chunk
        return out


def post(port: int, body: bytes, headers: dict[str, str]) -> bytes:
    head = ["POST /webhook HTTP/1.1", "Host: mlcp", "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    if "Content-Length" not in headers:
        head.append(f"Content-Length: {len(body)}")
    return exchange(port, ("\r\n".join(head) + "\r\n\r\n").encode() + body)


def signed(body: bytes, delivery: str, secret: str = SECRET) -> dict[str, str]:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature}


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


@pytest.fixture
def controller(tmp_path: Path, prefix: str, kubeconfig: Path) -> Iterator[Controller]:
    repo = configrepo.make(tmp_path, prefix)
    probes, hooks = free_port(), free_port()
    proc = mlcp(
        "reconcile", "--repo", str(repo.root), "--no-leader-elect", "--interval", "1h", "--no-watch",
        "--audit-log", str(tmp_path / "audit.jsonl"), "--kubeconfig", str(kubeconfig), *repo.operator_args(),
        "--workdir", str(tmp_path / "work"), "--listen", f"127.0.0.1:{probes}", "--webhook-listen",
        f"127.0.0.1:{hooks}", "--webhook-secret-env", "HOOK_SECRET", "--http-read-timeout", "2s",
        "--http-idle-timeout", "1s", "--http-threads", "1",
        env={"HOOK_SECRET": SECRET},
    )  # fmt: skip
    wait_for(lambda: get(probes, "/healthz") == 200, 60, "the controller to serve its probes")
    yield proc, probes, hooks
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def test_the_webhook_refuses_every_attack_and_honours_one_genuine_push(controller: Controller) -> None:
    proc, probes, hooks = controller
    push = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()

    began = time.monotonic()
    assert status(post(hooks, b"{}", {"Content-Length": "-1"})) == 400
    assert time.monotonic() - began < 2, "a negative length must not make it read to the end of the stream"
    assert status(post(hooks, b"", {"Content-Length": str(50 * 1024 * 1024)})) == 413
    assert status(post(hooks, push, signed(push, "d-0", secret="guess"))) == 403

    loris = socket.create_connection(("127.0.0.1", hooks), timeout=5)
    loris.sendall(b"POST /webhook HTTP/1.1\r\nHost: mlcp\r\n")
    dripping, cut_after = time.monotonic(), None
    while time.monotonic() - dripping < 10:
        try:
            loris.sendall(b"X-Drip: 1\r\n")
        except OSError:
            cut_after = time.monotonic() - dripping
            break
        assert get(probes, "/readyz") in (200, 503), "probes answer while the slow client drips"
        time.sleep(0.3)
    loris.close()
    assert cut_after is not None and cut_after < 5, "the slow-loris client was cut off"

    assert status(post(hooks, push, signed(push, "d-1"))) == 202
    assert status(post(hooks, push, signed(push, "d-1"))) == 409, "a replayed delivery is refused"
    assert status(post(hooks, push, signed(push, "d-2"))) == 409, "so is the same body under a new ID"
    assert get(hooks, "/metrics") == 404 and get(probes, "/webhook") == 404, "each listener serves its own paths"

    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert [e for e in lines if e["msg"] == "webhook: push received, pass requested"] != []
    assert len([e for e in lines if e["msg"] == "webhook: push received, pass requested"]) == 1
    assert SECRET not in stderr.decode()
    assert "Traceback" not in stderr.decode()
