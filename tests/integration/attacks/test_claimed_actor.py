"""Under requireSignedCommits, a record names an author field beside the signers, and it read like one of them.

Bob, a member of vision, signs a change of its pipeline: the audit log names him, verified. The admin removes him
from vision. Someone then pushes an unsigned commit (a README edit) with `alice@example.com` typed as its author,
and swaps the live pipeline's image. The loop heals the drift; a heal is no author's change (rule `heal`: the
file's last writer has lost the right), so its record names the author of the commit applied, and it read exactly
like Bob's signed change: a reviewer took the heal for Alice's. Records now say which actors a verified signature
backs (`verified`), and `mlcp audit` marks every other one `(claimed)`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack
from tests.integration.attacks.test_drift_after_leaving import (
    BOB_IMAGE,
    SWAPPED,
    _bob_applied_then_left,
    _loop,
    _swap_live_image,
)

pytestmark = pytest.mark.integration


def test_an_author_field_typed_as_someone_is_recorded_as_a_claim_beside_the_signers(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision = op.repo.repo.vision
    rec = _loop(op, tmp_path)
    try:
        _bob_applied_then_left(op, rec)
        op.repo.write("README.md", "notes\n")
        op.repo.git("add", "-A", who="alice")
        op.repo.git("commit", "-q", "-m", "docs", who="alice")  # unsigned: anyone could have typed the author
        assert rec.run_pass().error is None
        _swap_live_image(k8s_admin, vision, SWAPPED)
        healed = rec.run_pass()
    finally:
        rec.close()
    assert healed.error is None and vision not in healed.failed, (healed.error, healed.failed)
    assert gitattack.step_images(k8s_admin, vision, "train-detector")[0] == BOB_IMAGE
    log = tmp_path / "loop.jsonl"
    signed, heal = [r for r in op.records(log, "--kind", "WorkflowTemplate") if r["result"] == "applied"][-2:]
    assert (signed["actors"], signed.get("verified")) == (["bob@example.com"], ["bob@example.com"]), signed
    assert heal["rule"] == "heal" and heal["actors"] == ["alice@example.com"], heal
    assert "verified" not in heal, "the author field of an unsigned commit is no verified identity"
    shown = [op.cli("audit", "show", r["id"], "--audit-log", str(log)).stdout for r in (signed, heal)]
    assert "actors:   bob@example.com\n" in shown[0]
    assert "actors:   alice@example.com (claimed)\n" in shown[1]
    assert op.verified(log)
