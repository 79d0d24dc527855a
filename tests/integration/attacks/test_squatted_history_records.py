"""Carol forges mlcp's record of an alias for `mlcp promotions history`, in a real basic-auth MLflow.

The history checks the audit log against the registry, and against mlcp's own record of the version it last
moved each alias to: a record that disagrees with the log says the log is not this registry's. The backend
refuses a record store someone other than mlcp and the MLflow admins may write; the history found the store
by name and role tag alone. So Carol (an MLflow user, in no tenant) (a) creates `mlcp-inventory.<controller
namespace>` before mlcp does, tagged as mlcp's, with a record saying mlcp moved production to the version a hand
moved it to; or (b) writes that record into mlcp's own store once an admin's grant lets her. Either way the
history reported her record as mlcp's. Now it reads the records as the backend does: it refuses the store,
naming her, reads none of it, and still shows the log.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controlplane.audit import JsonlStore
from controlplane.audit.outcomes import records_for
from controlplane.cli.app import app
from controlplane.plans import Plan
from reconciler.backends.base import Outcome, Status
from reconciler.backends.mlflow_inventory import record_tag, store_name
from tests.controlplane.audit.conftest import alias_change
from tests.integration import test_mlflow_permissions as basic_auth
from tests.integration.attacks.test_squatted_record_store import _forged, _installation
from tests.integration.test_mlflow_backend import register_ungoverned
from tests.integration.test_mlflow_permissions import AuthServer, create_users

pytestmark = pytest.mark.integration
server = basic_auth.auth_server
"""The basic-auth MLflow of the permissions tests, started once for this module too."""


def _logged_and_moved(server: AuthServer, tmp_path: Path, prefix: str) -> tuple[str, Path]:
    """A model whose production mlcp moved to version 1 (the operator's audit log says so), moved by hand to 2."""
    model = register_ungoverned(server.rest(), prefix, [{"auc": 0.9}, {"auc": 0.8}])
    server.rest().post("registered-models/alias", name=model, alias="production", version="2")
    store = JsonlStore(tmp_path / "audit.jsonl")
    change = alias_change("1", None, model=model)
    store.append_many(records_for(Plan((change,), revision="1" * 40), [Outcome(change, Status.applied)], actors=[]))
    return model, store.path


def _history(server: AuthServer, model: str, log: Path, namespace: str) -> tuple[dict[str, object], str]:
    """`mlcp promotions history -o json`, as the operator runs it with mlcp's (admin) MLflow user."""
    user, password = server.admin
    args = ["promotions", "history", model, "-o", "json", "--audit-log", str(log)]
    env = {
        "MLFLOW_TRACKING_URI": server.uri,
        "MLFLOW_TRACKING_USERNAME": user,
        "MLFLOW_TRACKING_PASSWORD": password,
    }
    result = CliRunner().invoke(app, [*args, "--controller-namespace", namespace], env=env)
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return json.loads(result.stdout), result.stderr


def _forged_set(model: str, version: str) -> tuple[str, str]:
    """The record tag of `model@production` saying mlcp last moved it to `version`."""
    ref = alias_change("1", None, model=model).ref
    value = {"kind": "ModelAlias", "name": ref.name, "spec": "ModelPromotion/vision/x", "tenant": "vision"}
    value |= {"source": "x.yaml", "set": {"version": version, "commit": "ab" * 20, "by": "mlcp", "at": "2026"}}
    return record_tag(ref), json.dumps(value)


def test_a_record_store_carol_made_first_is_not_read_by_the_history(
    server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    create_users(server, prefix, "carol")
    carol, namespace = f"{prefix}-carol", f"{prefix}-hist"[:63]
    model, log = _logged_and_moved(server, tmp_path, prefix)
    squatted = _forged(server, carol, store_name(namespace), f"{prefix}/exp")
    key, value = _forged_set(model, "2")
    server.rest(carol).post("experiments/set-experiment-tag", experiment_id=squatted, key=key, value=value)

    data, stderr = _history(server, model, log, namespace)
    assert data["registry"] is None, "none of her records is shown as mlcp's"
    assert f"{carol} (MANAGE)" in stderr and "where mlcp keeps its records" in stderr, stderr
    assert "not checked against it" in stderr
    assert [m["version"] for m in data["moves"]] == ["1"], "the log is still shown"


def test_a_record_carol_writes_into_mlcps_own_store_is_not_read_by_the_history(
    server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    create_users(server, prefix, "alice", "bob", "vic", "carol")
    carol = f"{prefix}-carol"
    repo = _installation(server, tmp_path, prefix)
    report = repo.apply(repo.plan())  # mlcp makes its own store, which only mlcp and the admins may write
    assert Status.failed not in {o.status for o in report.outcomes}, report.outcomes
    model, log = _logged_and_moved(server, tmp_path, prefix)
    data, _ = _history(server, model, log, repo.namespace)
    assert data["registry"] is not None, "mlcp's own store is read"

    store = server.rest().get("experiments/get-by-name", experiment_name=store_name(repo.namespace))["experiment"]
    store_id = str(store["experiment_id"])
    grant = {"username": carol, "resource_type": "experiment", "resource_id": store_id, "permission": "EDIT"}
    server.grants_api().post("users/permissions/grant", **grant)  # an admin's slip
    key, value = _forged_set(model, "2")
    server.rest(carol).post("experiments/set-experiment-tag", experiment_id=store_id, key=key, value=value)

    data, stderr = _history(server, model, log, repo.namespace)
    assert data["registry"] is None, "her record is not shown as mlcp's"
    assert f"{carol} (EDIT)" in stderr and "where mlcp keeps its records" in stderr, stderr
