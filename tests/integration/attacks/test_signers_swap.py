"""Under requireSignedCommits, Bob makes a key of his own count as the admin's.

He appends `admin@example.com <his new key>` to `policies/allowed_signers`,
signs that commit and a quota raise with the new key, and writes the admin as
author. Before the trusted base, the signers file of the revision under review
verified its own signatures, so mlcp reported the admin as the verified signer.
Now signatures are checked against the trusted base's signers: the new key is
nobody's, both commits vouch for no one, and the change to the signers file is
itself a governance change that nobody verified may make.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack
from tests.integration.attacks.gitattack import GPU

pytestmark = pytest.mark.integration


def _commit_as_admin_with(repo: gitattack.SignedRepo, key: Path, message: str) -> None:
    """A commit whose author claims to be the admin, signed with `key` (Bob's own, new key)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test Admin",
        "GIT_AUTHOR_EMAIL": "admin@example.com",
        "GIT_COMMITTER_NAME": "Test Admin",
        "GIT_COMMITTER_EMAIL": "admin@example.com",
    }
    for args in (
        ["add", "-A"],
        ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-q", "-S", "-m", message],
    ):
        subprocess.run(["git", *args], cwd=repo.root, env=env, check=True, capture_output=True)


def test_a_key_added_under_the_admins_name_verifies_nobody(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision = op.repo, op.repo.repo.vision
    key = tmp_path / "bobs-second-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "admin", "-f", str(key)], check=True)
    signers = repo.root / "policies/allowed_signers"
    public = key.with_suffix(".pub") if key.with_suffix(".pub").exists() else Path(f"{key}.pub")
    signers.write_text(signers.read_text() + f'admin@example.com namespaces="git" {public.read_text().strip()}\n')
    _commit_as_admin_with(repo, key, "rotate the admin's key")
    repo.edit(f"tenants/{vision}/quota.yaml", f'{GPU}: "4"', f'{GPU}: "64"')
    _commit_as_admin_with(repo, key, "vision: more GPUs")

    planned = op.plan()
    shown = gitattack.said(planned)
    assert "PolicyFile/policies/allowed_signers" in shown, "the signers swap is shown as a change to the rules"
    assert "denied (requireSignedCommits)" in shown and "has a signature by a key not in allowed_signers" in shown

    audit = tmp_path / "attack.jsonl"
    op.apply(audit)
    assert gitattack.gpu_quota(k8s_admin, vision) == "4"
    denied = {r["target"]["kind"]: r for r in op.records(audit, "--decision", "deny")}
    assert denied["PolicyFile"]["rule"] == "requireSignedCommits"
    assert denied["ResourceQuota"]["rule"] == "requireSignedCommits"
    assert denied["ResourceQuota"]["actors"] == ["admin@example.com (unverified)"], "a claim, and recorded as one"
    assert op.verified(audit)

    code, log = op.reconcile_once(tmp_path / "loop.jsonl")
    assert code == 1, log[-2000:]
    assert gitattack.gpu_quota(k8s_admin, vision) == "4"
    loop = {r["target"]["kind"]: r["rule"] for r in op.records(tmp_path / "loop.jsonl", "--decision", "deny")}
    assert loop.get("PolicyFile") == "requireSignedCommits" and loop.get("ResourceQuota") == "requireSignedCommits"
