"""Carol floods `policies/` to stall or exhaust whoever plans her pull request.

Non-YAML files under `policies/` (allowed signers and the like) are read whole as governance objects, outside the
YAML loader and its budgets. A commit of thousands of files there, or of a few huge ones, must be refused
quickly with the limit and the setting that raises it: never read into memory, never a traceback, never planned.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.attacks import gitattack

pytestmark = pytest.mark.integration


@pytest.fixture
def op(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str) -> gitattack.Operator:
    return gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)


def test_a_flood_of_policy_files_is_refused_quickly_with_the_limit(op: gitattack.Operator) -> None:
    flood = op.repo.root / "policies" / "keys"
    flood.mkdir()
    for i in range(1_500):  # over a folder's 1,000 files
        (flood / f"key-{i:05d}.pub").write_text(f"ssh-ed25519 AAAA{i} carol@example.com\n")
    op.repo.git("add", "-A")
    op.repo.commit("policies: more keys", "carol")

    started = time.monotonic()
    result = op.plan()
    assert time.monotonic() - started < 30
    said = gitattack.said(result)
    assert result.exit_code == 1, gitattack.explain(result)
    assert "policies/ holds more than 1000 files" in said and "--limit tenant-files" in said, said
    assert "Traceback" not in result.output


def test_policy_files_over_the_byte_limit_are_refused(op: gitattack.Operator) -> None:
    blob = "ssh-ed25519 " + "A" * (1024 * 1024 - 100) + "\n"  # each under the per-file limit, together over 4 MiB
    for i in range(5):
        (op.repo.root / "policies" / f"bulk-{i}.pub").write_text(blob)
    op.repo.git("add", "-A")
    op.repo.commit("policies: bulk keys", "carol")

    result = op.plan()
    said = gitattack.said(result)
    assert result.exit_code == 1, gitattack.explain(result)
    assert "policies/ holds more than 4194304 bytes" in said and "--limit tenant-bytes" in said, said
