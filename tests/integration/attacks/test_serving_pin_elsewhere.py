"""Alice, owner of vision, serves a quarantined version's files without promoting it.

The admin quarantines version 3; production stays at version 1. Alice cannot
move the alias to 3 (the quarantine refuses it), so she leaves the alias alone
and writes `serving.storageUri: s3://…/3/model`, version 3's artifacts. That
field was an override the registry was never asked about: the InferenceService
loaded version 3 while every check on the alias move passed. Now the location
is a pin the registry must confirm: even approved (the change reads as a
serving tweak), `mlcp plan` blocks the serving change (and the alias move with
it) naming both locations, `mlcp apply` writes neither, and what is served stays
version 1's. Pinning version 1's own location works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

from tests.integration.attacks import approvals, gitattack

pytestmark = pytest.mark.integration

QUARANTINE = """  quarantine:
    - model: MODEL
      versions: [3]
      reason: trained on leaked data
"""


def _served(k8s_admin: client.ApiClient, op: gitattack.Operator) -> str:
    service = cast(
        dict[str, Any],
        client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", op.repo.repo.vision, "inferenceservices", "detector-production"
        ),
    )
    return str(service["spec"]["predictor"]["model"]["storageUri"])


def test_a_pinned_location_serves_nothing_the_promotion_did_not_authorize(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    policy = op.repo.root / approvals.POLICY
    policy.write_text(policy.read_text() + QUARANTINE.replace("MODEL", op.repo.repo.model))
    op.repo.commit("platform: quarantine version 3", "admin")
    assert op.apply(tmp_path / "rules.jsonl").exit_code == 0
    models = f"s3://{prefix}-models/{op.repo.repo.vision}"
    version_1, version_3 = f"{models}/1/model", f"{models}/3/model"
    assert _served(k8s_admin, op) == version_1

    rel = f"tenants/{op.repo.repo.vision}/{approvals.PROMOTION}"
    op.repo.edit(rel, "    modelFormat: mlflow\n", f"    modelFormat: mlflow\n    storageUri: {version_3}\n")
    op.repo.commit("vision: load the newer weights", "alice")
    assert approvals.approve(op, "lead").exit_code == 0, "a reviewer approves what reads as a serving tweak"
    shown = gitattack.said(op.plan())
    assert f"serving.storageUri '{version_3}' is not where version 1 of '{op.repo.repo.model}'" in shown, shown
    assert f"('{version_1}')" in shown
    op.apply(tmp_path / "pinned.jsonl")
    assert (approvals.production(op), _served(k8s_admin, op)) == ("1", version_1), "version 3 is never served"

    op.repo.edit(rel, f"storageUri: {version_3}", f"storageUri: {version_1}")
    op.repo.commit("vision: pin what production serves", "alice")
    assert approvals.approve(op, "lead").exit_code == 0
    result = op.apply(tmp_path / "own.jsonl")
    assert result.exit_code == 0, gitattack.explain(result)
    assert _served(k8s_admin, op) == version_1
