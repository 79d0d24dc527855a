"""Carol makes mlcp's own record store in a real basic-auth MLflow before mlcp does, and writes its records.

mlcp finds its records (whose an object is, which spec judges its deletion, which version an alias is healed
back to) on the experiment `mlcp-inventory.<controller namespace>`, by name and role tag, and MLflow lets any
user create an experiment of any name and holds MANAGE for its creator. Carol (an MLflow user, in no tenant)
creates it on a server mlcp has not written yet, tagged as mlcp's, with a record that gives her the tenant's
experiment: mlcp read it as its own and, once it wrote there, she kept writing. Now the plan refuses the whole
server naming her grant, nothing is written to MLflow, and once an MLflow admin renames her experiment away
mlcp makes its own, which no tenant member can write. A store she makes as another installation's (to refuse
the tenant its experiment) is ignored and reported.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from controlplane.errors import MlcpError
from controlplane.plans import ObjectRef
from reconciler.backends.base import Status
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_inventory import ROLE, ROLE_TAG, STORE, record_tag, store_name
from reconciler.backends.mlflow_rest import MlflowRest
from tests.integration import test_mlflow_permissions as basic_auth
from tests.integration.mlflow_rest import MlflowError
from tests.integration.test_mlflow_permissions import AuthRepo, AuthServer, _repo, create_users, direct, members

pytestmark = pytest.mark.integration
server = basic_auth.auth_server
"""The basic-auth MLflow of the permissions tests, started once for this module too."""


@dataclasses.dataclass
class Installation(AuthRepo):
    """The permissions tests' repo, applied by the mlcp of its own controller namespace (a store no other test has)."""

    namespace: str = "mlcp-system"

    def backend(self) -> MlflowBackend:
        return MlflowBackend(MlflowRest(self.uri, auth=self.admin), self.namespace)


def _installation(server: AuthServer, tmp_path: Path, prefix: str) -> Installation:
    repo = _repo(tmp_path, server.uri, prefix, server.admin, members(prefix))
    return Installation(**{f.name: getattr(repo, f.name) for f in dataclasses.fields(repo)}, namespace=prefix[:63])


def _forged(server: AuthServer, user: str, name: str, exp: str) -> str:
    """`name` made by `user`, tagged as mlcp's record store, with a record giving `exp` to her own spec."""
    ref = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, exp)
    value = {"kind": "Experiment", "name": exp, "spec": "Experiment/carol/x", "tenant": "carol", "source": "x.yaml"}
    tags = {ROLE_TAG: ROLE, "mlcp.dev/managed-by": "mlcp", record_tag(ref): json.dumps(value)}
    made = server.rest(user).post(
        "experiments/create", name=name, tags=[{"key": k, "value": v} for k, v in tags.items()]
    )
    return str(made["experiment_id"])


def test_a_record_store_carol_made_first_is_never_read_and_nobody_else_writes_mlcps_own(
    server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    create_users(server, prefix, "alice", "bob", "vic", "carol")
    carol, bob = f"{prefix}-carol", f"{prefix}-bob"
    repo = _installation(server, tmp_path, prefix)
    exp = f"{prefix}/exp"
    squatted = _forged(server, carol, store_name(repo.namespace), exp)
    assert direct(server, carol) == {("experiment", squatted): "MANAGE"}, "MLflow gives its creator MANAGE"

    with pytest.raises(MlcpError) as refused:  # the only system here: the plan is refused (exit 1, no traceback)
        repo.plan()
    assert f"{carol} (MANAGE)" in str(refused.value) and "where mlcp keeps its records" in str(refused.value)
    assert "rename it to a name not starting with 'mlcp-inventory'" in str(refused.value)
    with pytest.raises(MlflowError):
        server.rest().get("experiments/get-by-name", experiment_name=exp)
    found = server.rest().get("experiments/get", experiment_id=squatted)["experiment"]
    assert not [t for t in found.get("tags") or [] if t["key"] == "mlcp.dev/installation"], "nothing written there"

    aside = f"squatted-{prefix}"  # an MLflow admin moves hers aside; mlcp makes its own at the next apply
    server.rest().post("experiments/update", experiment_id=squatted, new_name=aside)
    report = repo.apply(repo.plan())
    assert {o.status for o in report.outcomes} == {Status.applied}, report.outcomes
    store = server.rest().get("experiments/get-by-name", experiment_name=store_name(repo.namespace))["experiment"]
    tenant_exp = server.rest().get("experiments/get-by-name", experiment_name=exp)["experiment"]
    assert direct(server, bob) == {("experiment", str(tenant_exp["experiment_id"])): "EDIT"}
    store_id = store["experiment_id"]
    for writer in (bob, carol):  # a member with EDIT on the tenant's experiment, and Carol: neither writes mlcp's
        as_writer = server.rest(writer)
        for path, body in (
            ("experiments/set-experiment-tag", {"key": "mlcp.dev/record.x", "value": "{}"}),
            ("runs/create", {}),
            ("experiments/update", {"new_name": f"{prefix}-moved"}),
            ("experiments/delete", {}),
        ):
            with pytest.raises(MlflowError) as denied:
                as_writer.post(path, experiment_id=store_id, **body)
            assert denied.value.status == 403, (writer, path, denied.value)

    # Carol makes an older mlcp's store naming the tenant's next experiment, to have it refused as another's
    nxt = f"{prefix}/next"
    _forged(server, carol, STORE, nxt)
    repo.write(
        f"tenants/{repo.tenant}/experiments/next.yaml",
        basic_auth.EXPERIMENT.replace("name: exp", "name: next").format(name=nxt),
        "next",
    )
    planned = repo.plan()
    [mlflow] = [s for s in planned.systems if s.system == "mlflow"]
    assert mlflow.reachable and any(f"{carol} (MANAGE)" in n and "ignored" in n for n in mlflow.notes), mlflow
    [creating] = [c for c in planned.changes if c.ref.name == nxt]
    assert creating.blocked is None, "her store refuses the tenant nothing"
