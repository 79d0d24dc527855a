"""The trusted base: which revision judges, and that its rules come from git, never from the work tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from controlplane.errors import MlcpError
from controlplane.plans import Action, Change, Decision, ObjectRef, Plan, SpecKey
from reconciler import governance, trust

TEMPLATE = Path(__file__).resolve().parents[2] / "repo_template"


def _git(root: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    done = subprocess.run(
        ["git", *args], cwd=root, env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    shutil.copytree(TEMPLATE, root)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "initial")
    return root


def _commit(root: Path, message: str) -> str:
    (root / "tenants/vision/notes.yaml").write_text(f"# {message}\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)
    return _git(root, "rev-parse", "HEAD")


def test_with_nothing_applied_and_nothing_named_mlcp_refuses_naming_both_ways_out(repo: Path) -> None:
    with pytest.raises(MlcpError) as refused:
        trust.choose(repo, None, None)
    assert "--trusted-base" in refused.value.hint and "MLCP_TRUSTED_BASE" in refused.value.hint


def test_the_operator_may_vouch_forward_but_a_stale_setting_never_pins_trust_to_the_past(repo: Path) -> None:
    first = _git(repo, "rev-parse", "HEAD")
    applied = _commit(repo, "applied")
    later = _commit(repo, "later")
    assert trust.choose(repo, applied, None) == (applied, "applied")
    assert trust.choose(repo, applied, later) == (later, "operator"), "forward: the operator vouches for more"
    assert trust.choose(repo, applied, first) == (applied, "applied"), "stale: the applied revision wins"
    assert trust.choose(repo, None, "HEAD") == ("HEAD", "operator")


def test_an_applied_revision_from_another_history_defers_to_the_operator(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    assert trust.choose(repo, "0" * 40, "HEAD") == (head, "operator")


def test_the_rules_are_read_from_git_not_from_the_work_tree(repo: Path) -> None:
    sha = _git(repo, "rev-parse", "HEAD")
    policy = repo / "policies/access.yaml"
    policy.write_text(policy.read_text().replace("      - admin@example.com", "      - mallory@example.com"))
    base = trust.load(repo, sha, "operator")
    assert base.policy is not None
    assert base.policy.spec.groups["platform-team"] == ["admin@example.com"]
    assert set(base.tenants) == {"vision", "nlp"}
    assert "policies/allowed_signers" in base.files and base.signers is not None


def test_a_signers_file_outside_the_repo_is_no_key_the_base_vouches_for(repo: Path) -> None:
    policy = repo / "policies/access.yaml"
    policy.write_text(policy.read_text().replace("policies/allowed_signers", "../../etc/ssh/keys"))
    _git(repo, "commit", "-qam", "signers elsewhere")
    base = trust.load(repo, "HEAD", "operator")
    assert base.signers is None


def test_an_unknown_trusted_base_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(MlcpError) as refused:
        trust.resolve(repo, "no-such-branch")
    assert "is not a commit of the config repo" in refused.value.message


def _rule_change(blocked: str | None) -> Change:
    ref = ObjectRef(governance.SYSTEM, governance.API_VERSION, governance.POLICY, None, "platform")
    decision = Decision(blocked is None, "r", "why")
    spec = SpecKey("AccessPolicy", None, "platform")
    return Change(ref, Action.update, "differs", spec, None, "policies/access.yaml", 0,
                  blocked=blocked, decision=decision)  # fmt: skip


def test_a_denied_change_to_the_rules_never_becomes_the_next_judge() -> None:
    assert governance.next_base(Plan((_rule_change(None),), revision="head"), "base") == "head"
    assert governance.next_base(Plan((_rule_change("denied"),), revision="head"), "base") == "base"


def test_rule_diffs_see_removed_keys_that_a_managed_diff_would_not() -> None:
    before = {"groups": {"platform-team": ["admin@x"], "approvers": ["lead@x"]}}
    after = {"groups": {"platform-team": ["admin@x"]}}
    [removed] = governance.full_diff(before, after)
    assert removed.path == ("groups", "approvers") and removed.new is None


def _governance(base: trust.TrustedBase) -> tuple[object, ...]:
    """What judges: the specs by source, the policy files, the config and the problems."""
    specs = sorted((s.source.path, s.spec.model_dump_json()) for s in base.repo.specs)
    problems = sorted(d.render() for d in base.problems)
    return (specs, base.files, base.repo.config, problems, base.repo.files)


def test_a_base_reuses_the_previous_one_reading_only_the_tenant_files_that_changed(repo: Path) -> None:
    first = trust.load(repo, "HEAD", "applied")
    tenant = repo / "tenants/vision/tenant.yaml"
    tenant.write_text(tenant.read_text().replace("role: edit", "role: view"))
    (repo / "tenants/nlp/tenant.yaml").unlink()
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "vision's people, nlp gone")
    second = trust.load(repo, "HEAD", "applied", previous=first)
    assert second.shared is first.shared, "mlcp.yaml and policies/ did not change: reused, not read again"
    assert second.parts is not None and first.parts is not None and "nlp" not in second.parts
    assert second.tenants["vision"].spec.members[0].role == "view"
    assert _governance(second) == _governance(trust.load(repo, "HEAD", "applied")), "the same as a full load"


def test_a_change_outside_the_tenant_files_reads_the_whole_base_again(repo: Path) -> None:
    first = trust.load(repo, "HEAD", "applied")
    policy = repo / "policies/access.yaml"
    policy.write_text(policy.read_text() + "\n")
    _git(repo, "commit", "-qam", "a policy change")
    second = trust.load(repo, "HEAD", "applied", previous=first)
    assert second.shared is not first.shared
    assert _governance(second) == _governance(trust.load(repo, "HEAD", "applied"))


def test_an_unchanged_tenant_file_with_problems_keeps_them_in_a_reused_base(repo: Path) -> None:
    tenant = repo / "tenants/nlp/tenant.yaml"
    tenant.write_text(tenant.read_text().replace("kind: Tenant", "kind: Tenant\nbogus: 1"))
    _git(repo, "commit", "-qam", "nlp broken")
    first = trust.load(repo, "HEAD", "applied")
    assert any("nlp" in d.path for d in first.problems)
    vision = repo / "tenants/vision/tenant.yaml"
    vision.write_text(vision.read_text().replace("role: edit", "role: view"))
    _git(repo, "commit", "-qam", "vision's people")
    second = trust.load(repo, "HEAD", "applied", previous=first)
    assert _governance(second) == _governance(trust.load(repo, "HEAD", "applied"))
