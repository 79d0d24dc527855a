"""A stranger's broken tenant folder must never become a tenant of the trusted base.

The trusted base's tenants keep the registry names they own among themselves (controlplane/registry_names.py),
and a tenant.yaml of the base counts as one of them even when it does not load: a name must not change hands
because its owner's file is broken. So a folder that enters the base unapproved owns names there. Carol, who may
create nothing, commits `tenants/<vision>-detector/tenant.yaml` that does not validate: the folder is set aside,
so no Tenant and no change of people is planned for it, and with `--shards` the platform lane (which covers no
tenant, so no set-aside tenant held it back) recorded her revision as the trusted base. From then on her folder
was a tenant of the base, the longest name owning vision's model `<vision>-detector`: vision's own promotion
was the invalid spec and vision was set aside, backing off, with one broken file. Now a tenant the base does not
know keeps the base while it is set aside, as a refused change of people does.

Driven as `ShardedLoop._round` drives the lanes, against the real API server, with signed commits.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack, lanes

pytestmark = pytest.mark.integration

SHARDS = 2
BROKEN = "apiVersion: mlcp.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n  owners: carol@example.com\n"
"""`owners` is a list: this Tenant does not validate, so its folder is set aside."""


def test_a_set_aside_newcomer_folder_never_becomes_a_tenant_of_the_trusted_base(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    vision, squatter = op.repo.repo.vision, op.repo.repo.model
    base = op.applied_revision(k8s_admin)
    replica = lanes.replica(op, tmp_path, SHARDS)
    try:
        assert all(r.error is None for r in replica.round().values())
        op.repo.write(f"tenants/{squatter}/tenant.yaml", BROKEN.format(name=squatter))
        op.repo.commit("a team of my own", "carol")
        rounds = replica.rounds(3)
        assert op.applied_revision(k8s_admin) == base, "carol's unapproved folder became a tenant of the trusted base"
        failed = {tenant: why for results in rounds for r in results.values() for tenant, why in r.failed.items()}
        assert squatter in failed, failed
        assert vision not in failed, f"vision was set aside: {failed.get(vision)}"

        op.repo.git("rm", "-q", "-r", f"tenants/{squatter}", who="admin")
        op.repo.commit("no such team", "admin")
        head = op.repo.head()
        replica.rounds(2)
        assert op.applied_revision(k8s_admin) == head, "with the folder gone, the base moves on"
    finally:
        replica.close()
