"""What the approval attacks share: a promoted model in the real MLflow, and `mlcp approve` as a signed approver."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import Result

from tests.integration.attacks import gitattack
from tests.integration.mlflow_rest import MlflowRest

PROMOTION = "promotions/detector-production.yaml"
POLICY = "policies/access.yaml"
FREEZE = """  freezeWindows:
    - name: always
      cron: "* * * * *"
      duration: 1h
"""
"""A freeze window always open, with no override: every promotion it covers is held."""


def promoted(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, versions: int = 3) -> gitattack.Operator:
    """A signed repo whose policy requires one approval for `production`, applied once with the model registered
    (staging at version 1), and the ML lead's approval applied, so production is at version 1.

    The operator's word vouches for who wrote the initial commit, not for the alias move: the first apply
    waits for an approval like any other."""
    signed = gitattack.signed_repo(tmp_path, prefix, approvals=True)
    gitattack.register_model(MlflowRest(mlflow_uri), signed.repo, versions)
    op = gitattack.Operator(signed, kubeconfig, mlflow_uri, tmp_path)
    op.first_apply()
    assert production(op) is None, "the first apply does not move production without an approval"
    assert approve(op, "lead").exit_code == 0
    assert op.apply(tmp_path / "approved-first.jsonl").exit_code == 0
    assert production(op) == "1"
    return op


def production(op: gitattack.Operator) -> str | None:
    return gitattack.alias(MlflowRest(op.mlflow_uri), op.repo.repo.model)


def move_staging(op: gitattack.Operator, version: int) -> None:
    """The data scientist moves `staging` by hand, as MLflow lets anyone with EDIT do."""
    MlflowRest(op.mlflow_uri).post(
        "registered-models/alias", name=op.repo.repo.model, alias="staging", version=str(version)
    )


def approve(op: gitattack.Operator, who: str, *flags: str) -> Result:
    """`mlcp approve` run by `who`, whose approval commit is signed with their key."""
    name, email = gitattack.PEOPLE[who]
    env = {
        **op.env,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "gpg.format",
        "GIT_CONFIG_VALUE_0": "ssh",
        "GIT_CONFIG_KEY_1": "user.signingkey",
        "GIT_CONFIG_VALUE_1": str(op.repo.keys / who),
        "HOME": os.environ.get("HOME", "/root"),
    }
    path = op.repo.root / f"tenants/{op.repo.repo.vision}/{PROMOTION}"
    return gitattack.runner.invoke(gitattack.app, ["approve", str(path), *flags], env=env)


def promotion_records(op: gitattack.Operator, audit: Path, decision: str) -> list[dict[str, object]]:
    """This test's alias records (the session's MLflow server holds other tests' objects too)."""
    mine = f"{op.repo.repo.model}@"
    return [
        r
        for r in op.records(audit, "--decision", decision)
        if r["target"]["kind"] == "ModelAlias" and str(r["target"]["name"]).startswith(mine)
    ]
