"""Tenant people → MLflow permission objects: levels per role, groups skipped, one set of grants per model."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.loading.repo import load_repo
from controlplane.plans import DesiredObject, ObjectRef
from controlplane.rendering import RenderContext, render
from controlplane.rendering.mlflow_permissions import MODEL_PERMISSION, GrantRef, tenant_grants
from controlplane.specs import Tenant
from tests.controlplane.helpers import copy_template, write


def _tenant(owners: list[str], members: list[dict[str, str]]) -> Tenant:
    data = {"apiVersion": "mlcp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": "t"}}
    return Tenant.model_validate({**data, "spec": {"owners": owners, "members": members}})


def test_owners_manage_members_edit_or_read_groups_nothing() -> None:
    tenant = _tenant(
        ["alice@x"],
        [
            {"name": "bob@x", "role": "edit"},
            {"name": "erin@x", "role": "admin"},
            {"name": "vic@x", "role": "view"},
            {"name": "readers", "kind": "Group", "role": "view"},
            {"name": "alice@x", "role": "view"},
        ],
    )
    assert tenant_grants(tenant) == {"alice@x": "MANAGE", "bob@x": "EDIT", "erin@x": "EDIT", "vic@x": "READ"}


def _permissions(root: Path) -> dict[str, DesiredObject]:
    objects = render(RenderContext(load_repo(root)))
    return {f"{o.ref.kind}/{o.ref.name}": o for o in objects if o.ref.kind.endswith("Permission")}


def test_template_renders_grants_for_experiments_and_promoted_models(tmp_path: Path) -> None:
    found = _permissions(copy_template(tmp_path))
    assert sorted(found) == [
        "ExperimentPermission/nlp/sentiment#carol@example.com",
        "ExperimentPermission/nlp/sentiment#dave@example.com",
        "ExperimentPermission/vision/detector#alice@example.com",
        "ExperimentPermission/vision/detector#bob@example.com",
        "RegisteredModelPermission/vision-detector#alice@example.com",
        "RegisteredModelPermission/vision-detector#bob@example.com",
    ]
    grant = found["ExperimentPermission/vision/detector#alice@example.com"]
    assert grant.manifest == {"experiment": "vision/detector", "user": "alice@example.com", "permission": "MANAGE"}
    assert (grant.ref.system, grant.tenant, str(grant.spec)) == ("mlflow", "vision", "Tenant/vision/vision")
    model = found["RegisteredModelPermission/vision-detector#bob@example.com"]
    assert model.manifest == {"model": "vision-detector", "user": "bob@example.com", "permission": "EDIT"}


def test_two_promotions_of_one_model_render_its_grants_once(tmp_path: Path) -> None:
    root = copy_template(tmp_path)
    write(
        root,
        "tenants/vision/promotions/detector-staging.yaml",
        """
        apiVersion: mlcp.dev/v1alpha1
        kind: ModelPromotion
        metadata: {name: detector-staging}
        spec: {model: vision-detector, alias: staging, version: 1}
        """,
    )
    models = [o for o in _permissions(root).values() if o.ref.kind == "RegisteredModelPermission"]
    assert sorted(o.ref.name for o in models) == [
        "vision-detector#alice@example.com",
        "vision-detector#bob@example.com",
    ]


def test_grants_are_the_tenants_change_not_the_rendering_specs(tmp_path: Path) -> None:
    """Who holds which level is declared in tenant.yaml: editing an experiment or promotion must not be
    authorized as granting MLflow permissions."""
    found = _permissions(copy_template(tmp_path)).values()
    assert {(str(o.spec), o.tenant, o.source) for o in found} == {
        ("Tenant/nlp/nlp", "nlp", "tenants/nlp/tenant.yaml"),
        ("Tenant/vision/vision", "vision", "tenants/vision/tenant.yaml"),
    }


def test_a_grant_ref_is_typed_and_keeps_the_name_plans_and_inventories_use() -> None:
    grant = GrantRef(MODEL_PERMISSION, "vision-detector", "alice@example.com")
    assert grant.ref().name == "vision-detector#alice@example.com" and grant.resource_type == "registered_model"
    assert GrantRef.of(grant.ref()) == grant
    with pytest.raises(ValueError, match="not a permission"):
        GrantRef.of(ObjectRef("mlflow", "mlflow/v1", MODEL_PERMISSION, None, "no-user"))
