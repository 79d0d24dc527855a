"""Tenant: defaults that keep teams isolated and their namespace protected."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.specs import Tenant


def test_namespace_defaults_to_the_tenant_name(template: Any) -> None:
    tenant = Tenant.model_validate(template("tenants/vision/tenant.yaml"))
    assert tenant.namespace == "vision"
    assert Tenant.model_validate(template("tenants/nlp/tenant.yaml")).namespace == "nlp-team"


def test_isolation_and_deletion_protection_are_on_by_default(template: Any) -> None:
    data = template("tenants/nlp/tenant.yaml")
    del data["spec"]["deletionProtection"]
    tenant = Tenant.model_validate(data)
    assert tenant.spec.deletion_protection is True
    assert tenant.spec.network_isolation.enabled is True
    assert tenant.spec.members[0].role == "edit"


def test_identities_are_owners_and_user_members_not_groups(template: Any) -> None:
    tenant = Tenant.model_validate(template("tenants/vision/tenant.yaml"))
    assert tenant.identities() == {"alice@example.com", "bob@example.com"}


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("spec", "owners"), [], "at least 1 item"),
        (("spec", "owners"), [""], "at least 1 character"),
        (("spec", "members"), [{"name": "x", "kind": "Robot"}], "'User' or 'Group'"),
        (("spec", "networkIsolation"), {"allowFromNamespaces": ["Kube_System"]}, "DNS-1123"),
        # Kubernetes' own identities: the pipelines' pods as owners, every pod of the cluster, everyone
        (("spec", "owners"), ["system:serviceaccount:vision:mlcp-workload"], "Kubernetes' own identities"),
        (("spec", "members"), [{"name": "System:ServiceAccounts", "kind": "Group"}], "Kubernetes' own identities"),
        (("spec", "members"), [{"name": "system:authenticated", "kind": "Group", "role": "view"}], "to everyone"),
        (("spec", "members"), [{"name": "system:serviceaccount:nlp-team:default"}], "a person"),
    ],
)
def test_invalid_tenants_are_refused(template: Any, path: tuple[str, str], value: Any, message: str) -> None:
    data = template("tenants/vision/tenant.yaml")
    data[path[0]][path[1]] = value
    with pytest.raises(ValidationError, match=message):
        Tenant.model_validate(data)


def test_adopting_a_namespace_is_off_unless_asked_for_and_must_be_a_boolean(template: Any) -> None:
    data = template("tenants/vision/tenant.yaml")
    assert Tenant.model_validate(data).spec.adopt_namespace is False
    data["spec"]["adoptNamespace"] = True
    assert Tenant.model_validate(data).spec.adopt_namespace is True
    data["spec"]["adoptNamespace"] = "please"
    with pytest.raises(ValidationError, match="adoptNamespace"):
        Tenant.model_validate(data)
