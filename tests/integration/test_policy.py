"""Who may change what, end to end: git identities, the AccessPolicy, approvals, signatures, impersonation."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import git
import pytest
from kubernetes import client
from typer.testing import CliRunner

from controlplane.cli.app import app
from controlplane.plans import Action, Plan
from reconciler import connecting, engine, nextbase
from reconciler.applying import ApplyReport, apply_plan, unchecked
from reconciler.backends.base import ApplyOptions, Status
from tests.integration import configrepo
from tests.integration.attacks import gitattack
from tests.integration.mlflow_rest import MlflowRest

pytestmark = pytest.mark.integration
runner = CliRunner()

ADMIN = configrepo.ACTOR
ALICE = git.Actor("Alice", "alice@example.com")  # owner of vision
BOB = git.Actor("Bob", "bob@example.com")  # member (edit) of vision
CAROL = git.Actor("Carol", "carol@example.com")  # owner of nlp
ML_LEAD = git.Actor("ML Lead", "ml-lead@example.com")  # model approver
RISK = git.Actor("Risk", "risk-officer@example.com")  # model approver


def _plan(
    repo: configrepo.ConfigRepo, kubeconfig: Path, enforce: bool = True, trusted: bool = False
) -> tuple[Plan, dict[str, object]]:
    """Plan as the operator: `trusted` names the initial commit as the trusted base (the first apply);
    otherwise the last applied revision judges, as in production."""
    desired = engine.load_desired(repo.root)
    targets = repo.targets(kubeconfig, trusted=trusted)
    backends = connecting.connect(desired.repo, targets)
    plan, _ = engine.make_plan(desired, backends, enforce_policy=enforce, targets=targets)
    return plan, backends  # type: ignore[return-value]


def _apply(
    repo: configrepo.ConfigRepo, kubeconfig: Path, enforce: bool = True, trusted: bool = False
) -> tuple[Plan, ApplyReport]:
    plan, backends = _plan(repo, kubeconfig, enforce, trusted)
    revision = nextbase.next_base(plan, plan.meta["trustedBase"]["revision"])
    report = apply_plan(plan, backends, ApplyOptions(revision=revision), authorize=unchecked)  # type: ignore[arg-type]
    return plan, report


def _image(k8s_admin: client.ApiClient, namespace: str) -> str:
    template = client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
        "argoproj.io", "v1alpha1", namespace, "workflowtemplates", "train-detector"
    )
    return str(template["spec"]["templates"][1]["container"]["image"])


@pytest.fixture
def repo(tmp_path: Path, prefix: str, kubeconfig: Path) -> configrepo.ConfigRepo:
    repo = configrepo.make(tmp_path, prefix)
    _, report = _apply(repo, kubeconfig, trusted=True)
    assert not report.failed, [(str(o.change.ref), o.message) for o in report.failed]
    return repo


PIPELINE = "pipelines/train-detector.yaml"
OLD_IMAGE = "ghcr.io/example/vision-data:1.3.0"


def test_member_of_another_tenant_is_denied_and_nothing_reaches_the_namespace(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", OLD_IMAGE, "ghcr.io/evil/miner:1")
    repo.commit("carol edits vision's pipeline", author=CAROL)
    plan, report = _apply(repo, kubeconfig)
    [change] = plan.pending
    assert change.decision is not None and not change.decision.allowed
    assert change.decision.actors == ("carol@example.com",)
    assert change.blocked and "no rule lets carol@example.com update Pipeline" in change.blocked
    assert [o.status for o in report.outcomes] == [Status.skipped]
    assert _image(k8s_admin, repo.vision) == OLD_IMAGE


def test_apply_with_detailed_exitcode_says_a_denied_change_was_held_back(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    """A CI job after merge must not read "exit 0" as "all of it is live" when the policy skipped a change."""
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", OLD_IMAGE, "ghcr.io/evil/miner:1")
    repo.commit("carol edits vision's pipeline", author=CAROL)
    args = ["apply", str(repo.root), "--kubeconfig", str(kubeconfig), *repo.operator_args(), "--yes"]
    log = ["--audit-log", str(tmp_path / "audit.jsonl")]
    plain = runner.invoke(app, [*args, *log])
    assert plain.exit_code == 0, plain.output  # the documented default: skipping as the policy says is success
    detailed = runner.invoke(app, [*args, *log, "--detailed-exitcode"])
    assert detailed.exit_code == 2, detailed.output
    assert "1 skipped" in detailed.output
    assert _image(k8s_admin, repo.vision) == OLD_IMAGE

    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", "ghcr.io/evil/miner:1", "ghcr.io/example/vision-data:1.4.0")
    repo.commit("bob: a new data image", author=BOB)
    allowed = runner.invoke(app, [*args, *log, "--detailed-exitcode"])
    assert allowed.exit_code == 0, allowed.output
    assert _image(k8s_admin, repo.vision) == "ghcr.io/example/vision-data:1.4.0"


def test_bypassing_the_policy_is_still_refused_by_the_api_server(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", OLD_IMAGE, "ghcr.io/evil/miner:1")
    repo.commit("carol edits vision's pipeline", author=CAROL)
    _, report = _apply(repo, kubeconfig, enforce=False)  # test-only hook: decisions computed, not enforced
    [outcome] = report.outcomes
    assert outcome.status is Status.failed
    nlp_deployer = f"system:serviceaccount:{repo.system_ns}:mlcp-deployer-{repo.nlp}"
    assert "forbidden" in outcome.message and nlp_deployer in outcome.message
    assert _image(k8s_admin, repo.vision) == OLD_IMAGE


def test_non_admin_quota_raise_denied_while_allowed_pipeline_change_applies(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.nvidia.com/gpu: "4"', 'requests.nvidia.com/gpu: "64"')
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", OLD_IMAGE, "ghcr.io/example/vision-data:1.4.0")
    repo.commit("bob: more GPUs and a new data image", author=BOB)
    plan, report = _apply(repo, kubeconfig)
    by_kind = {c.ref.kind: c for c in plan.pending}
    assert by_kind["ResourceQuota"].blocked and "default-deny" in by_kind["ResourceQuota"].blocked
    assert by_kind["WorkflowTemplate"].decision is not None and by_kind["WorkflowTemplate"].decision.allowed
    statuses = {o.change.ref.kind: o.status for o in report.outcomes}
    assert statuses == {"ResourceQuota": Status.skipped, "WorkflowTemplate": Status.applied}
    quota = client.CoreV1Api(k8s_admin).read_namespaced_resource_quota("compute", repo.vision)
    assert quota.spec.hard["requests.nvidia.com/gpu"] == "4"
    assert _image(k8s_admin, repo.vision) == "ghcr.io/example/vision-data:1.4.0"


def _approve(repo: configrepo.ConfigRepo, rel: str, who: git.Actor) -> None:
    env = {
        "GIT_AUTHOR_NAME": str(who.name),
        "GIT_AUTHOR_EMAIL": str(who.email),
        "GIT_COMMITTER_NAME": str(who.name),
        "GIT_COMMITTER_EMAIL": str(who.email),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        result = runner.invoke(app, ["approve", str(repo.path(rel))])
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert result.exit_code == 0, result.output


def _promotion_decision(repo: configrepo.ConfigRepo, kubeconfig: Path, mlflow_uri: str) -> tuple[bool, str]:
    """The decision on the alias move (the serving follows it: a location only the registry confirms)."""
    desired = engine.load_desired(repo.root)
    targets = repo.targets(kubeconfig, mlflow_uri, trusted=False)
    plan, _ = engine.make_plan(desired, connecting.connect(desired.repo, targets), targets=targets)
    [change] = [c for c in plan.pending if c.ref.kind == "ModelAlias" and c.ref.name == f"{repo.model}@production"]
    assert change.decision is not None
    return change.decision.allowed, change.decision.reason


def test_promotion_needs_two_distinct_approvers_other_than_the_author(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    repo = configrepo.make(tmp_path, prefix)
    gitattack.register_model(MlflowRest(mlflow_uri), repo, versions=3)
    rel = f"tenants/{repo.vision}/promotions/detector-production.yaml"
    repo.path(rel).unlink()
    repo.commit("no promotion yet")
    _apply(repo, kubeconfig, trusted=True)
    (repo.root / rel).write_text(
        (configrepo.TEMPLATE / "tenants/vision/promotions/detector-production.yaml")
        .read_text()
        .replace("model: vision-detector", f"model: {repo.model}")
        .replace("fromAlias: staging", "version: 3")
        .replace("requiredApprovals: 1", "requiredApprovals: 2")
        .replace("maxReplicas: 3", "maxReplicas: 4")
    )
    repo.commit("alice proposes a promotion", author=ALICE)

    allowed, reason = _promotion_decision(repo, kubeconfig, mlflow_uri)
    assert not allowed and "0 of 2" in reason

    _approve(repo, rel, ML_LEAD)
    allowed, reason = _promotion_decision(repo, kubeconfig, mlflow_uri)
    assert not allowed and "1 of 2" in reason and "ml-lead@example.com" in reason

    _approve(repo, rel, ALICE)  # the author: does not count (and alice holds no approver role either)
    allowed, reason = _promotion_decision(repo, kubeconfig, mlflow_uri)
    assert not allowed and "1 of 2" in reason and "alice@example.com" in reason

    _approve(repo, rel, RISK)
    allowed, reason = _promotion_decision(repo, kubeconfig, mlflow_uri)
    assert allowed and "2 of 2" in reason

    repo.edit(rel, "maxReplicas: 4", "maxReplicas: 5")
    repo.commit("alice tweaks the promotion", author=ALICE)
    allowed, reason = _promotion_decision(repo, kubeconfig, mlflow_uri)
    assert not allowed and "0 of 2" in reason, "approvals older than the spec's last change do not count"


def test_an_approver_who_authored_the_promotion_does_not_count(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    repo = configrepo.make(tmp_path, prefix, approvals=True)
    gitattack.register_model(MlflowRest(mlflow_uri), repo, versions=3)
    repo.edit(
        f"tenants/{repo.vision}/tenant.yaml",
        "    - name: bob@example.com",
        "    - name: ml-lead@example.com\n      role: edit\n    - name: bob@example.com",
    )
    repo.commit("ml-lead joins vision")
    _apply(repo, kubeconfig, trusted=True)  # the admin's membership change is applied: ml-lead is a member now
    rel = f"tenants/{repo.vision}/promotions/detector-production.yaml"
    repo.edit(rel, "fromAlias: staging", "version: 3")
    repo.edit(rel, "maxReplicas: 3", "maxReplicas: 6")
    repo.commit("ml-lead edits the promotion", author=ML_LEAD)
    _approve(repo, rel, ML_LEAD)
    allowed, reason = _promotion_decision(repo, kubeconfig, mlflow_uri)
    assert not allowed and "authors cannot approve" in reason


def _keypair(tmp_path: Path, name: str) -> tuple[Path, str]:
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key, (tmp_path / f"{name}.pub").read_text().strip()


def _signed_commit(repo: configrepo.ConfigRepo, who: git.Actor, key: Path | None, message: str) -> None:
    repo.git.git.add(A=True)
    env = {
        "GIT_AUTHOR_NAME": who.name,
        "GIT_AUTHOR_EMAIL": who.email,
        "GIT_COMMITTER_NAME": who.name,
        "GIT_COMMITTER_EMAIL": who.email,
    }
    args = ["git", "-c", "gpg.format=ssh"]
    if key is not None:
        args += ["-c", f"user.signingkey={key}", "commit", "-S", "-m", message]
    else:
        args += ["commit", "-m", message]
    subprocess.run(args, cwd=repo.root, env={**os.environ, **env}, check=True, capture_output=True)


def test_signed_commits_required(repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path) -> None:
    _, alice_pub = _keypair(tmp_path, "alice")
    stranger_key, _ = _keypair(tmp_path, "stranger")
    repo.path("policies/allowed_signers").write_text(f'alice@example.com namespaces="git" {alice_pub}\n')
    repo.edit("policies/access.yaml", "requireSignedCommits: false", "requireSignedCommits: true")
    repo.commit("require signed commits")
    _apply(repo, kubeconfig)  # a rule takes effect once applied: the admin's policy change becomes the base
    pipeline = f"tenants/{repo.vision}/{PIPELINE}"

    def decision() -> tuple[bool, str, tuple[str, ...]]:
        plan, _ = _plan(repo, kubeconfig)
        [change] = [c for c in plan.pending if c.ref.kind == "WorkflowTemplate"]
        assert change.decision is not None
        return change.decision.allowed, change.decision.reason, change.decision.actors

    repo.edit(pipeline, OLD_IMAGE, "ghcr.io/example/vision-data:2.0.0")
    _signed_commit(repo, ALICE, None, "unsigned")
    allowed, reason, _ = decision()
    assert not allowed and "is not signed" in reason

    repo.edit(pipeline, "vision-data:2.0.0", "vision-data:2.0.1")
    _signed_commit(repo, ALICE, stranger_key, "signed by a key nobody trusts")
    allowed, reason, _ = decision()
    assert not allowed and "signature" in reason

    _apply(repo, kubeconfig)  # nothing allowed yet: the base stays where it was for these files
    repo.edit(pipeline, "vision-data:2.0.1", "vision-data:2.0.2")
    _signed_commit(repo, ADMIN, None, "forged: claims to be the admin")
    allowed, reason, _ = decision()
    assert not allowed, "an unsigned commit claiming the admin's email gains nothing"


def test_validly_signed_commit_is_allowed_as_the_signer(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path
) -> None:
    alice_key, alice_pub = _keypair(tmp_path, "alice")
    repo.path("policies/allowed_signers").write_text(f'alice@example.com namespaces="git" {alice_pub}\n')
    repo.edit("policies/access.yaml", "requireSignedCommits: false", "requireSignedCommits: true")
    repo.commit("require signed commits")
    _apply(repo, kubeconfig)
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", OLD_IMAGE, "ghcr.io/example/vision-data:3.0.0")
    _signed_commit(repo, ALICE, alice_key, "signed by alice")
    plan, _ = _plan(repo, kubeconfig)
    [change] = [c for c in plan.pending if c.ref.system == "kubernetes"]
    assert change.action is Action.update
    assert change.decision is not None and change.decision.allowed, change.decision
    assert change.decision.actors == ("alice@example.com",)


def test_every_apply_denial_and_failure_leaves_an_audit_record(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    from controlplane.audit import JsonlStore, verify_file

    log = tmp_path / "audit.jsonl"
    # A quota raise by bob (denied), a pipeline change by bob (allowed), and nlp's pipeline changed by the admin
    # while another controller claims a field of its WorkflowTemplate (fails: a conflict, not drift, on a kind
    # other controllers may write; on a LimitRange it would be taken back, test_plan_apply.py).
    repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.nvidia.com/gpu: "4"', 'requests.nvidia.com/gpu: "64"')
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", OLD_IMAGE, "ghcr.io/example/vision-data:1.5.0")
    repo.commit("bob: more GPUs and a new data image", author=BOB)
    repo.edit(f"tenants/{repo.nlp}/pipelines/embed-corpus.yaml", "nlp-embed:0.9.2", "nlp-embed:0.9.3")
    repo.commit("admin: a newer embedder in nlp")
    client.CustomObjectsApi(k8s_admin).patch_namespaced_custom_object(
        "argoproj.io",
        "v1alpha1",
        repo.nlp,
        "workflowtemplates",
        "embed-corpus",
        {"spec": {"entrypoint": "by-the-ui"}},
        field_manager="argo-ui",
    )
    args = [
        "apply",
        str(repo.root),
        "--kubeconfig",
        str(kubeconfig),
        *repo.operator_args(),
        "--yes",
        "--audit-log",
        str(log),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output  # the conflicting WorkflowTemplate failed

    records = {(r.kind, r.result, r.decision): r for r in JsonlStore(log).records()}
    assert ("ResourceQuota", "denied", "deny") in records or ("ResourceQuota", "skipped", "deny") in records
    applied = records[("WorkflowTemplate", "applied", "allow")]
    assert applied.actors == ("bob@example.com",) and applied.tenant == repo.vision
    failed = records[("WorkflowTemplate", "failed", "allow")]
    assert failed.error and "argo-ui" in failed.error and failed.tenant == repo.nlp
    assert verify_file(log).ok
