"""AccessPolicy: roles of rules, bindings that name someone; references are checked in validation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.specs import AccessPolicy

POLICY = "policies/access.yaml"


def test_template_policy_reads_roles_bindings_and_groups(template: Any) -> None:
    policy = AccessPolicy.model_validate(template(POLICY))
    assert [r.name for r in policy.spec.roles] == ["platform-admin", "tenant-developer", "model-approver"]
    assert policy.spec.groups["model-approvers"] == ["ml-lead@example.com", "risk-officer@example.com"]
    assert policy.spec.roles[1].rules[0].tenants == ["@own"]
    assert AccessPolicy.tenant_scoped is False


def test_rule_tenants_default_to_all(template: Any) -> None:
    data = template(POLICY)
    del data["spec"]["roles"][0]["rules"][0]["tenants"]
    assert AccessPolicy.model_validate(data).spec.roles[0].rules[0].tenants == ["*"]


def test_a_binding_must_name_users_or_groups(template: Any) -> None:
    data = template(POLICY)
    data["spec"]["bindings"].append({"role": "platform-admin"})
    with pytest.raises(ValidationError, match="names no `users` and no `groups`"):
        AccessPolicy.model_validate(data)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"actions": [], "kinds": ["*"]}, "at least 1 item"),
        ({"actions": ["deploy"], "kinds": ["*"]}, "'create', 'update'"),
        ({"actions": ["*"], "kinds": ["Tenantt"]}, "'Quota', 'Tenant'"),
    ],
)
def test_invalid_rules_are_refused(template: Any, rule: dict[str, Any], message: str) -> None:
    data = template(POLICY)
    data["spec"]["roles"][0]["rules"] = [rule]
    with pytest.raises(ValidationError, match=message):
        AccessPolicy.model_validate(data)


def test_pod_security_defaults_to_baseline_at_the_latest_standards(template: Any) -> None:
    data = template(POLICY)
    data["spec"].pop("podSecurity", None)
    rules = AccessPolicy.model_validate(data).spec.pod_security
    assert (rules.level, rules.version, rules.level_of("vision")) == ("baseline", "latest", "baseline")


def test_pod_security_may_be_restricted_per_tenant(template: Any) -> None:
    data = template(POLICY)
    data["spec"]["podSecurity"] = {"level": "baseline", "version": "v1.30", "tenants": {"vision": "restricted"}}
    rules = AccessPolicy.model_validate(data).spec.pod_security
    assert (rules.level_of("vision"), rules.level_of("nlp"), rules.version) == ("restricted", "baseline", "v1.30")


@pytest.mark.parametrize(
    ("pod_security", "message"),
    [
        ({"level": "privileged"}, "'baseline' or 'restricted'"),
        ({"tenants": {"vision": "privileged"}}, "'baseline' or 'restricted'"),
        ({"version": "1.30"}, "should match pattern"),
        ({"level": "baseline", "enforce": "privileged"}, "Extra inputs are not permitted"),
    ],
)
def test_pod_security_offers_no_unrestricted_level(template: Any, pod_security: dict[str, Any], message: str) -> None:
    data = template(POLICY)
    data["spec"]["podSecurity"] = pod_security
    with pytest.raises(ValidationError, match=message):
        AccessPolicy.model_validate(data)
