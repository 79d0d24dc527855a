"""Bob, a member of vision, raises vision's GPU quota inside a merge commit.

Bob may edit vision's pipelines but not its quota. `git log --name-only`
lists no files for a merge, so what a merge commit changes by itself — beyond
the automatic merge of its parents — used to be invisible: the quota file's
only author in range was the admin, who had just raised it a little on main,
so Bob's 64 GPUs went through as the admin's. Now the merge is charged with its
own changes (git's remerge diff) and Bob is denied, while the branch he merged
keeps its own authors: Carol's nlp change in it is hers, not his.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack
from tests.integration.attacks.gitattack import GPU, OLD_IMAGE, PIPELINE

pytestmark = pytest.mark.integration

NEW_IMAGE = "ghcr.io/example/vision-data:1.4.0"
NLP_IMAGE = "ghcr.io/example/nlp-embed:0.9.3"


def test_a_quota_raise_smuggled_into_a_merge_commit_is_the_mergers_and_denied(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision, nlp = op.repo, op.repo.repo.vision, op.repo.repo.nlp
    quota = f"tenants/{vision}/quota.yaml"
    assert gitattack.gpu_quota(k8s_admin, vision) == "4"

    repo.git("checkout", "-q", "-b", "harmless")
    repo.edit(f"tenants/{vision}/{PIPELINE}", OLD_IMAGE, NEW_IMAGE)
    repo.commit("vision: new data image", "bob")
    repo.edit(f"tenants/{nlp}/pipelines/embed-corpus.yaml", "nlp-embed:0.9.2", "nlp-embed:0.9.3")
    repo.commit("nlp: new embedder", "carol")
    repo.git("checkout", "-q", "main")
    repo.edit(quota, f'{GPU}: "4"', f'{GPU}: "5"')
    repo.commit("vision: one more GPU", "admin")

    repo.git("merge", "-q", "--no-ff", "--no-commit", "harmless", who="bob")
    repo.edit(quota, f'{GPU}: "5"', f'{GPU}: "64"')  # not in either parent: the merge's own change
    merge = repo.commit("Merge branch 'harmless'", "bob")
    assert repo.git("log", "-1", "--format=%P", merge).count(" ") == 1, "a real two-parent merge"

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    said = gitattack.said(result)
    assert result.exception is None or isinstance(result.exception, SystemExit), gitattack.explain(result)
    assert "default-deny" in said and "bob@example.com" in said, result.output

    assert gitattack.gpu_quota(k8s_admin, vision) == "4", "neither bob's 64 nor the admin's 5 went through"
    assert gitattack.step_images(k8s_admin, vision, "train-detector")[0] == NEW_IMAGE, "bob's own change applies"
    assert gitattack.step_images(k8s_admin, nlp, "embed-corpus") == [NLP_IMAGE], "carol's, merged cleanly, too"

    [denied] = op.records(audit, "--decision", "deny", "--kind", "ResourceQuota")
    assert denied["rule"] == "default-deny" and denied["tenant"] == vision
    assert "bob@example.com" in denied["actors"] and "bob@example.com" in denied["reason"]
    assert denied["result"] in ("denied", "skipped")
    allowed = op.records(audit, "--decision", "allow", "--result", "applied")
    by_kind = {(r["tenant"], r["target"]["kind"]): r["actors"] for r in allowed}
    assert by_kind[(nlp, "WorkflowTemplate")] == ["carol@example.com"], "a clean merge charges its merger nothing"
    assert by_kind[(vision, "WorkflowTemplate")] == ["bob@example.com"]
    assert op.verified(audit)
