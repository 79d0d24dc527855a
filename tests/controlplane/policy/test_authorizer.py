"""The AccessPolicy evaluator, without servers: roles, groups, `@own`, default deny, several authors."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from controlplane.loading.repo import load_repo
from controlplane.policy.authorizer import Authorizer
from controlplane.specs import AccessPolicy, Tenant

TEMPLATE = Path(__file__).resolve().parents[3] / "repo_template"


@pytest.fixture(scope="module")
def authz() -> Authorizer:
    repo = load_repo(TEMPLATE)
    policy = cast(AccessPolicy, repo.of_kind("AccessPolicy")[0].spec)
    tenants = {s.tenant: cast(Tenant, s.spec) for s in repo.of_kind("Tenant") if s.tenant}
    return Authorizer(policy, tenants)


@pytest.mark.parametrize(
    ("who", "action", "kind", "tenant", "allowed", "rule"),
    [
        ("admin@example.com", "update", "Quota", "vision", True, "platform-admin.rules[0]"),
        ("admin@example.com", "update", "AccessPolicy", None, True, "platform-admin.rules[0]"),
        ("alice@example.com", "update", "Pipeline", "vision", True, "tenant-developer.rules[0]"),
        ("bob@example.com", "delete", "Experiment", "vision", True, "tenant-developer.rules[0]"),
        ("carol@example.com", "update", "Pipeline", "vision", False, "default-deny"),
        ("alice@example.com", "update", "Quota", "vision", False, "default-deny"),
        ("alice@example.com", "update", "AccessPolicy", None, False, "default-deny"),
        ("alice@example.com", "create", "Tenant", "vision", False, "default-deny"),
        ("ml-lead@example.com", "approve", "ModelPromotion", "nlp", True, "model-approver.rules[0]"),
        ("alice@example.com", "approve", "ModelPromotion", "vision", False, "default-deny"),
        ("stranger@example.com", "create", "Pipeline", "vision", False, "default-deny"),
    ],
)
def test_can(authz: Authorizer, who: str, action: str, kind: str, tenant: str | None, allowed: bool, rule: str) -> None:
    decision = authz.can(who, action, kind, tenant)
    assert (decision.allowed, decision.rule) == (allowed, rule), decision.reason


def test_every_author_must_be_allowed(authz: Authorizer) -> None:
    decision = authz.decide(["alice@example.com", "carol@example.com"], "update", "Pipeline", "vision")
    assert not decision.allowed and "carol@example.com" in decision.reason
    assert decision.actors == ("alice@example.com", "carol@example.com")


def test_no_identity_is_denied(authz: Authorizer) -> None:
    assert not authz.decide([], "update", "Pipeline", "vision").allowed


def test_no_policy_denies_everything() -> None:
    decision = Authorizer(None, {}).can("admin@example.com", "update", "Quota", "vision")
    assert not decision.allowed and "no AccessPolicy" in decision.reason


def test_people_named_with_capitals_are_matched_as_identities_are_lower_cased() -> None:
    """Identities are lower-cased emails; a policy or a tenant written `Jane.Doe@Corp.com` bound nobody (a group,
    a binding's users, a tenant's owners), while `members_of` matched them: an admin so named could never
    change the policy after the first apply."""
    repo = load_repo(TEMPLATE)
    policy = cast(AccessPolicy, repo.of_kind("AccessPolicy")[0].spec)
    groups = {**policy.spec.groups, "platform-team": ["Jane.Doe@Corp.com"], "vision-readers": ["Reader@Example.com"]}
    policy = policy.model_copy(update={"spec": policy.spec.model_copy(update={"groups": groups})})
    tenants = {s.tenant: cast(Tenant, s.spec) for s in repo.of_kind("Tenant") if s.tenant}
    vision = tenants["vision"]
    tenants["vision"] = vision.model_copy(
        update={"spec": vision.spec.model_copy(update={"owners": ["Alice@Example.com"]})}
    )
    authz = Authorizer(policy, tenants)
    assert authz.can("jane.doe@corp.com", "update", "AccessPolicy", None).allowed
    assert authz.can("alice@example.com", "update", "Pipeline", "vision").allowed


def _with_members(tenant: Tenant, members: list[dict[str, str]]) -> Tenant:
    data = tenant.model_dump(by_alias=True)
    data["spec"]["members"] = members
    return Tenant.model_validate(data)


def test_a_view_member_cannot_change_the_tenant_in_git(authz: Authorizer) -> None:
    """The attacker is a read-only member of vision (directly, or through a group). `@own` once counted her as
    belonging to vision, so she changed the pipelines that run as vision's workload account: more than `view`
    gives her in the cluster."""
    assert authz.policy is not None
    policy = authz.policy.model_copy(deep=True)
    policy.spec.groups["vision-readers"] = ["reader-in-group@example.com"]
    members = [
        {"name": "mallory@example.com", "kind": "User", "role": "view"},
        {"name": "vision-readers", "kind": "Group", "role": "view"},
        {"name": "erin@example.com", "kind": "User", "role": "edit"},
        {"name": "vision-editors", "kind": "Group", "role": "edit"},
    ]
    policy.spec.groups["vision-editors"] = ["editor-in-group@example.com"]
    tenants = {**authz.tenants, "vision": _with_members(authz.tenants["vision"], members)}
    judged = Authorizer(policy, tenants)
    for reader in ("mallory@example.com", "reader-in-group@example.com"):
        decision = judged.can(reader, "update", "Pipeline", "vision")
        assert (decision.allowed, decision.rule) == (False, "default-deny"), decision.reason
    for writer in ("erin@example.com", "editor-in-group@example.com", "alice@example.com"):
        assert judged.can(writer, "update", "Pipeline", "vision").allowed
