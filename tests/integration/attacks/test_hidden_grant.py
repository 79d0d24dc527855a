"""Bob, an `edit` member about to be moved out of the tenant, hides his MLflow grant from mlcp to keep it.

mlcp marks each grant it makes with a tag on the experiment (`mlcp.dev/grant.<hash of user>`), and read its
grants from those tags alone. Every member with EDIT may delete an experiment's tags. Bob deletes the tag of his
own grant (as himself, in a real basic-auth MLflow); when the owner removes him from the Tenant, mlcp no longer
saw the grant it had made, planned no revoke, dropped it from its record, and Bob kept EDIT on every run and
artifact of the experiment for good. Now what mlcp granted is read from mlcp's own record, and the level from
MLflow's grants: the removal revokes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.plans import Action
from reconciler.backends.base import Status
from reconciler.backends.mlflow_permissions import grant_tag
from tests.integration import test_mlflow_permissions as basic_auth
from tests.integration.test_mlflow_permissions import AuthServer, _repo, create_users, direct, members, permissions
from tests.integration.test_mlflow_permissions import tenant as tenant_spec

pytestmark = pytest.mark.integration
server = basic_auth.auth_server
"""The basic-auth MLflow of the permissions tests, started once for this module too."""


def test_a_member_who_deletes_his_grants_tag_still_loses_the_grant_when_removed(
    server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    create_users(server, prefix, "alice", "bob", "vic")
    bob = f"{prefix}-bob"
    repo = _repo(tmp_path, server.uri, prefix, server.admin, members(prefix))
    report = repo.apply(repo.plan())
    assert Status.failed not in {o.status for o in report.outcomes}, report.outcomes
    exp_id = server.rest().get("experiments/get-by-name", experiment_name=f"{prefix}/exp")["experiment"]
    exp_id = str(exp_id["experiment_id"])
    assert direct(server, bob) == {("experiment", exp_id): "EDIT"}

    # after the last pass before his removal is applied (a pass while he is declared would only write it back)
    server.rest(bob).post("experiments/delete-experiment-tag", experiment_id=exp_id, key=grant_tag(bob))
    repo.write(f"tenants/{repo.tenant}/tenant.yaml", tenant_spec(prefix, f"[{{name: {prefix}-vic, role: view}}]"))
    planned = repo.plan()
    revoke = permissions(planned).get(bob)
    assert revoke is not None and revoke.action is Action.delete and revoke.blocked is None, planned.changes
    report = repo.apply(planned)
    assert Status.failed not in {o.status for o in report.outcomes}, report.outcomes
    assert direct(server, bob) == {}, "Bob no longer holds a grant on the tenant's experiment"
