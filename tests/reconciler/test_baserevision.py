"""Which commit names a trusted base: the operator's word or the applied record, and never a ref a pusher made."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.errors import MlcpError
from reconciler import baserevision
from tests.reconciler.baserepo import commit_note as _commit
from tests.reconciler.baserepo import repo
from tests.reconciler.baserepo import run_git as _git

__all__ = ["repo"]  # the fixture


def test_with_nothing_applied_and_nothing_named_mlcp_refuses_naming_both_ways_out(repo: Path) -> None:
    with pytest.raises(MlcpError) as refused:
        baserevision.choose(repo, None, None)
    assert "--trusted-base" in refused.value.hint and "MLCP_TRUSTED_BASE" in refused.value.hint


def test_the_operator_may_vouch_forward_but_a_stale_setting_never_pins_trust_to_the_past(repo: Path) -> None:
    first = _git(repo, "rev-parse", "HEAD")
    applied = _commit(repo, "applied")
    later = _commit(repo, "later")
    assert baserevision.choose(repo, applied, None) == (applied, "applied")
    assert baserevision.choose(repo, applied, later) == (later, "operator"), "forward: the operator vouches for more"
    assert baserevision.choose(repo, applied, first) == (applied, "applied"), "stale: the applied revision wins"
    assert baserevision.choose(repo, None, "HEAD") == ("HEAD", "operator")


def test_an_applied_revision_from_another_history_defers_to_the_operator(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    assert baserevision.choose(repo, "0" * 40, "HEAD") == (head, "operator")


def test_an_unknown_trusted_base_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(MlcpError) as refused:
        baserevision.resolve(repo, "no-such-branch")
    assert "is not a commit of the config repo" in refused.value.message


@pytest.mark.parametrize("revision", ["HEAD@{99}", "@{-1}", "HEAD:policies", "--output=x", "", "HEAD^{tree}"])
def test_a_revision_git_cannot_name_a_commit_by_is_a_clear_error(repo: Path, revision: str) -> None:
    """GitPython's own parser raised IndexError (`HEAD@{99}`) or NotImplementedError (`@{-1}`), neither caught:
    `--trusted-base` ended plan, apply and `policy can` in a traceback. Git parses it now."""
    with pytest.raises(MlcpError) as refused:
        baserevision.resolve(repo, revision)
    assert f"the trusted base {revision!r} is not a commit of the config repo" in refused.value.message


@pytest.mark.parametrize("revision", ["HEAD", "main", "HEAD@{0}", "main@{yesterday}", "HEAD~0"])
def test_every_form_git_resolves_names_its_commit(repo: Path, revision: str) -> None:
    """Reflog forms too, as git reads them (`main@{yesterday}`: the oldest entry of a younger reflog)."""
    assert baserevision.resolve(repo, revision) == _git(repo, "rev-parse", "HEAD")


def _pushed_side_commit(repo: Path) -> str:
    """Mallory's commit on a branch of her own: a policy binding everyone to the platform admin's role."""
    _git(repo, "checkout", "-q", "-b", "mallory")
    policy = repo / "policies/access.yaml"
    policy.write_text(policy.read_text().replace("      groups: [platform-team]", '      users: ["*"]', 1))
    _git(repo, "commit", "-qam", "tidy the policy")
    evil = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "main")
    return evil


@pytest.mark.parametrize("named", ["short", "main", "origin/main", "main~0"])
def test_a_tag_the_attacker_pushes_never_decides_what_the_operators_base_names(repo: Path, named: str) -> None:
    """git reads a tag before a branch of the same name, and any ref before an abbreviated commit id: a tag
    named `main`, or named like the 12-character id `mlcp init` prints for the first apply, made the operator's
    `--trusted-base` name Mallory's commit, whose whole content the operator then vouched for."""
    head = _git(repo, "rev-parse", "HEAD")
    evil = _pushed_side_commit(repo)
    _git(repo, "update-ref", "refs/remotes/origin/main", head)  # a clone's remote branch
    name = head[:12] if named == "short" else named
    _git(repo, "tag", name.split("~")[0], evil)
    assert _git(repo, "rev-parse", name) == evil, "git itself follows the tag"
    with pytest.raises(MlcpError) as refused:
        baserevision.resolve(repo, name)
    assert "names more than one thing" in refused.value.message and "full commit id" in refused.value.hint
    assert baserevision.resolve(repo, head) == head, "the full id names the reviewed commit, whatever refs exist"


def test_a_full_commit_id_is_the_commit_even_where_a_ref_carries_its_name(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    evil = _pushed_side_commit(repo)
    _git(repo, "update-ref", f"refs/tags/{head}", evil)
    assert baserevision.resolve(repo, head) == head
    assert baserevision.resolve(repo, head.upper()) == head


def test_an_unambiguous_name_still_names_its_commit(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    _git(repo, "tag", "v1", head)
    assert baserevision.resolve(repo, "v1") == head and baserevision.resolve(repo, head[:12]) == head
