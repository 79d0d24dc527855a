"""A hand move of a governed alias is drift: planned as such, and healed by the loop within seconds.

Against the real MLflow server (SQLite: it delivers webhooks) and API server:
`mlcp plan` shows the hand move of `production` as drift, with what MLflow
records of it (nothing: no user, no time) and mlcp's own last move; the real
`mlcp reconcile` registers its MLflow webhook, heals the drift on its first
pass, and, with a 10-minute interval, moves a second hand move back within 5
seconds of the alias event — only the webhook can have woken it. The audit
log says "drift healed" both times.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devenv.processes import free_port
from tests.integration.attacks import gitattack
from tests.integration.mlflow_rest import MlflowRest
from tests.integration.reconcile_support import ROOT, wait_for

pytestmark = pytest.mark.integration


def _hand_move(rest: MlflowRest, model: str, version: str) -> None:
    rest.post("registered-models/alias", name=model, alias="production", version=version)


def _drop_webhook(rest: MlflowRest, name: str) -> None:
    for hook in rest.get("webhooks", max_results=1000).get("webhooks") or []:
        if hook.get("name") == name:
            rest.call("DELETE", f"webhooks/{hook['webhook_id']}")


def test_a_hand_move_of_production_is_planned_as_drift_and_healed_within_seconds_of_the_webhook(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    signed = gitattack.signed_repo(tmp_path, prefix)
    rest = MlflowRest(mlflow_uri)
    gitattack.register_model(rest, signed.repo, 2)
    op = gitattack.Operator(signed, kubeconfig, mlflow_uri, tmp_path)
    op.first_apply()
    model = signed.repo.model
    assert gitattack.alias(rest, model) == "1"

    _hand_move(rest, model, "2")
    shown = gitattack.said(op.plan())
    assert f"drift: {model}@production was moved outside mlcp to version 2; mlcp had moved it to version 1" in shown
    assert "MLflow records neither who moved an alias nor when" in shown, shown
    assert f"commit {signed.repo.initial[:12]})" in shown, "mlcp's own last move, from its tags"

    port = free_port()
    audit = tmp_path / "loop.jsonl"
    env = {**os.environ, **{k: v for k, v in op.env.items() if v is not None}}
    argv = [
        "reconcile", "--repo", str(signed.root), "--interval", "600s", "--no-leader-elect", "--no-watch",
        "--audit-log", str(audit), "--kubeconfig", str(kubeconfig), "--tracking-uri", mlflow_uri,
        "--workdir", str(tmp_path / "work"), "--listen", f"127.0.0.1:{port}",
        "--registry-webhook-url", f"http://127.0.0.1:{port}/registry-webhook",
    ]  # fmt: skip
    log = tmp_path / "loop.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controlplane", *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    hook = f"mlcp-{signed.repo.system_ns}"
    try:
        wait_for(lambda: gitattack.alias(rest, model) == "1", 120, "the first pass to heal the drift", step=0.5)
        assert "registered MLflow webhook" in log.read_text(), log.read_text()[-3000:]
        time.sleep(2)  # the first pass has written its records; MLflow's webhook cache (1 s here) has the hook

        _hand_move(rest, model, "2")
        moved = time.monotonic()
        wait_for(lambda: gitattack.alias(rest, model) == "1", 30, "the webhook-driven pass to heal the drift")
        healed = time.monotonic() - moved
        assert healed < 5.0, f"healed {healed:.1f}s after the hand move (the interval is 10 minutes)"
        assert "registry webhook: alias created, pass requested" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        _drop_webhook(rest, hook)

    records = [json.loads(line) for line in audit.read_text().splitlines()]
    healed_records = [
        r
        for r in records
        if r["target"]["kind"] == "ModelAlias" and r["result"] == "applied" and r["reason"].startswith("drift healed:")
    ]
    assert len(healed_records) == 2, [r["reason"] for r in records]
    assert all(r["version"] == "1" for r in healed_records)
    assert "was moved outside mlcp to version 2" in healed_records[0]["reason"]
