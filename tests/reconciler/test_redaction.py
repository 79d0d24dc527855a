"""Credentials in repo and tracking URLs never reach a log line or an error: the function, the logger, git, the CLI."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import logs
from reconciler.gitsync import GitSource, SourceError
from reconciler.redaction import redact

TOKEN = "ghp_s3cr3tT0ken"
URL = f"https://x-access-token:{TOKEN}@127.0.0.1:1/acme/config.git"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (URL, "https://***@127.0.0.1:1/acme/config.git"),
        (f"https://{TOKEN}@github.com/a.git", "https://***@github.com/a.git"),
        (
            f"fatal: unable to access '{URL}/': 403",
            "fatal: unable to access 'https://***@127.0.0.1:1/acme/config.git/': 403",
        ),
        (
            f"https://gitlab.com/a.git?private_token={TOKEN}&ref=main",
            "https://gitlab.com/a.git?private_token=***&ref=main",
        ),
        (f"http://mlflow:5000/api?access_token={TOKEN}", "http://mlflow:5000/api?access_token=***"),
        (f"http.extraHeader=Authorization: Basic {TOKEN}", "http.extraHeader=Authorization: Basic ***"),
        (f"PRIVATE-TOKEN: {TOKEN}", "PRIVATE-TOKEN: ***"),
    ],
)
def test_credentials_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert TOKEN not in redact(text)


@pytest.mark.parametrize(
    "text",
    ["git@github.com:acme/config.git", "alice@example.com approved", "https://github.com/acme/config.git", "a: b"],
)
def test_what_carries_no_credential_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_every_part_of_a_log_line_is_redacted() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("mlcp.reconcile.redaction-test")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise RuntimeError(f"cannot reach {URL}")
    except RuntimeError:
        logger.exception(f"fetch of {URL} failed", extra={"repo": URL, "nested": {"url": URL}})
    line = stream.getvalue()
    assert TOKEN not in line
    entry = json.loads(line)
    assert entry["repo"] == "https://***@127.0.0.1:1/acme/config.git"
    assert "https://***@127.0.0.1:1" in entry["exception"]


def test_a_failed_fetch_names_the_repo_without_its_token(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        GitSource(URL, "main", tmp_path / "work").sync()
    assert TOKEN not in caught.value.message
    assert "https://***@127.0.0.1:1/acme/config.git" in caught.value.message


def test_the_controller_logs_no_token_from_start_to_failed_pass(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "controlplane", "reconcile", "--once", "--repo", f"{URL}?private_token={TOKEN}",
            "--no-leader-elect", "--audit-log", str(tmp_path / "audit.jsonl"), "--workdir", str(tmp_path / "work"),
            "--kubeconfig", str(tmp_path / "missing"),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert TOKEN not in done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [entry["msg"] for entry in lines][:2] == ["starting", "pass failed"]
    assert lines[0]["repo"].startswith("https://***@127.0.0.1:1/")
