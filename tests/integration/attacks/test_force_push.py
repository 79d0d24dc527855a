"""Someone rewrites the branch after mlcp applied it (a force push), so the applied revision is no longer in
its history.

Attribution counts the commits since the applied revision; once head no
longer descends from it there is no honest answer to "who changed this since",
and falling back to all of history would let a rewritten branch pass as the
work of earlier, trusted commits. mlcp must stop with a clear error (exit 1),
apply nothing — not even changes the attacker could have made legitimately —
and say how to recover.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from kubernetes import client

from controlplane.audit import JsonlStore
from reconciler.gitsync import GitSource
from reconciler.passes import Reconciler, Settings
from tests.integration.attacks import gitattack
from tests.integration.attacks.gitattack import GPU, OLD_IMAGE, PIPELINE, Operator

pytestmark = pytest.mark.integration

NLP_IMAGE = "ghcr.io/example/nlp-embed:0.9.3"
BOB_IMAGE = "ghcr.io/example/vision-data:6.6.6"


@pytest.fixture
def rewritten(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str) -> tuple[Operator, str]:
    """Applied twice (the second revision by the admin); then bob resets main to the first and commits anew."""
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision, nlp = op.repo, op.repo.repo.vision, op.repo.repo.nlp
    initial = repo.head()
    repo.edit(f"tenants/{nlp}/pipelines/embed-corpus.yaml", "nlp-embed:0.9.2", "nlp-embed:0.9.3")
    applied = repo.commit("nlp: new embedder", "admin")
    result = op.apply(tmp_path / "second.jsonl")
    assert result.exit_code == 0, gitattack.explain(result)

    repo.git("reset", "-q", "--hard", initial, who="bob")  # git push --force of a branch without the applied commit
    repo.edit(f"tenants/{vision}/{PIPELINE}", OLD_IMAGE, BOB_IMAGE)  # bob may do this...
    repo.edit(f"tenants/{vision}/quota.yaml", f'{GPU}: "4"', f'{GPU}: "64"')  # ...but not this
    repo.commit("vision: image and GPUs", "bob")
    ancestry = subprocess.run(["git", "merge-base", "--is-ancestor", applied, "HEAD"], cwd=repo.root, check=False)
    assert ancestry.returncode == 1
    return op, applied


def unchanged(op: Operator, k8s_admin: client.ApiClient) -> None:
    vision, nlp = op.repo.repo.vision, op.repo.repo.nlp
    assert gitattack.gpu_quota(k8s_admin, vision) == "4"
    assert gitattack.step_images(k8s_admin, vision, "train-detector")[0] == OLD_IMAGE
    assert gitattack.step_images(k8s_admin, nlp, "embed-corpus") == [NLP_IMAGE], "the rewrite reverted nothing"


def test_plan_and_apply_refuse_a_head_that_does_not_descend_from_the_applied_revision(
    rewritten: tuple[Operator, str], k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    op, applied = rewritten
    head = op.repo.head()
    audit = tmp_path / "attack.jsonl"
    for result in (op.plan(), op.apply(audit)):
        said = gitattack.said(result)
        assert result.exit_code == 1, result.output
        assert f"head {head[:10]} does not descend from the trusted base {applied[:10]}" in said, result.output
        assert "force push" in said and "--trusted-base" in said and "MLCP_TRUSTED_BASE" in said
        assert isinstance(result.exception, SystemExit), gitattack.explain(result)  # a clear error, not a crash
    unchanged(op, k8s_admin)
    assert not audit.exists() or op.records(audit) == [], "nothing was attempted, so nothing was recorded"


def test_a_fresh_clone_of_the_rewritten_branch_lacks_the_applied_revision_and_is_refused(
    rewritten: tuple[Operator, str], k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    op, applied = rewritten
    clone = tmp_path / "ci-clone"
    subprocess.run(["git", "clone", "-q", "--no-local", "-b", "main", str(op.repo.root), str(clone)], check=True)
    present = subprocess.run(["git", "cat-file", "-e", f"{applied}^{{commit}}"], cwd=clone, check=False)
    assert present.returncode != 0, "the clone must not have the applied revision"
    for result in (op.plan(clone), op.apply(tmp_path / "clone.jsonl", clone)):
        said = gitattack.said(result)
        assert result.exit_code == 1, result.output
        assert f"trusted base {applied[:10]}" in said or f"trusted base {applied!r}" in said, result.output
        assert isinstance(result.exception, SystemExit), gitattack.explain(result)  # a clear error, not a crash
    unchanged(op, k8s_admin)


def test_the_loop_recovers_with_a_named_base_and_judges_from_it_not_from_dropped_tenant_revisions(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """The loop's per-tenant revisions (ConfigMap mlcp-reconciler-state) point at the dropped commit too. They
    used to judge every changed tenant, so every pass failed ("head does not descend from the trusted base"),
    even after the operator named the reviewed new tip as the trusted base, until someone deleted the ConfigMap.
    A recorded revision head does not descend from is passed over, and its tenant judged from the trusted base
    (fail closed: bob's later edit of vision's pipeline goes out, his quota raise does not)."""
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision, nlp = op.repo, op.repo.repo.vision, op.repo.repo.nlp
    initial = repo.head()
    rec = Reconciler(
        GitSource(str(repo.root), "main", tmp_path / "loop"),
        Settings(repo.repo.targets(kubeconfig, trusted=False), events=False),  # the cluster alone
        JsonlStore(tmp_path / "loop.jsonl"),
    )
    try:
        assert rec.run_pass().error is None
        repo.edit(f"tenants/{nlp}/pipelines/embed-corpus.yaml", "nlp-embed:0.9.2", "nlp-embed:0.9.3")
        dropped = repo.commit("nlp: new embedder", "admin")
        assert rec.run_pass().converged
        assert op.applied_revision(k8s_admin) == dropped

        repo.git("reset", "-q", "--hard", initial, who="admin")  # the force push, and a reviewed fix on top
        repo.edit(f"tenants/{vision}/tenant.yaml", "displayName: Computer Vision", "displayName: CV")
        fixed = repo.commit("vision: a shorter name", "admin")
        refused = rec.run_pass()
        assert refused.error is not None and f"does not descend from the trusted base {dropped[:10]}" in refused.error
        unchanged(op, k8s_admin)

        rec.settings = replace(rec.settings, targets=replace(rec.settings.targets, trusted_base=fixed))
        repo.edit(f"tenants/{vision}/{PIPELINE}", OLD_IMAGE, BOB_IMAGE)
        repo.edit(f"tenants/{vision}/quota.yaml", f'{GPU}: "4"', f'{GPU}: "64"')
        repo.commit("vision: image and GPUs", "bob")
        with caplog.at_level(logging.WARNING, "mlcp.reconcile"):
            recovered = rec.run_pass()
    finally:
        rec.close()
    assert recovered.error is None, recovered.error
    assert "denied" in recovered.failed.get(vision, ""), recovered.failed
    assert gitattack.step_images(k8s_admin, vision, "train-detector")[0] == BOB_IMAGE, "bob's own edit went out"
    assert gitattack.gpu_quota(k8s_admin, vision) == "4", "his quota raise did not"
    passed_over = [r for r in caplog.records if "mlcp-reconciler-state" in r.getMessage()]
    assert passed_over and dropped[:12] in str(passed_over[0].__dict__.get("tenants")), "the log names the record"
