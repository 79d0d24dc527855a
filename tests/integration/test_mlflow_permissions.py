"""Tenant → MLflow permissions against real servers: one running MLflow's basic-auth app, and the session's without.

The basic-auth server is started here, once for the module, through the same
devenv helper the demo uses; if it cannot start, these tests error (they never
skip). mlcp plans and applies as the MLflow admin; the grants are then read
back over REST and exercised as the users themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.cli import plan_view
from controlplane.plans import Action, Change, Plan
from devenv.mlflowserver import MlflowServer
from reconciler import engine
from reconciler.applying import ApplyReport, apply_plan, unchecked
from reconciler.backends.base import ApplyOptions, Backend, Status
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_rest import MlflowRest
from tests.integration.mlflow_rest import MlflowError
from tests.integration.mlflow_rest import MlflowRest as Rest
from tests.integration.test_mlflow_backend import ACTOR, POLICY, ConfigRepo, _sh, register_ungoverned

pytestmark = pytest.mark.integration
PASSWORD = "a-user-password-1"
V3 = "/api/3.0/mlflow/"


@dataclasses.dataclass
class AuthServer:
    uri: str
    admin: tuple[str, str]

    def rest(self, user: str | None = None) -> Rest:
        return Rest(self.uri, auth=self.admin if user is None else (user, PASSWORD))

    def grants_api(self) -> Rest:
        """The admin on MLflow 3's unified grant API (/api/3.0/mlflow/users/permissions/...)."""
        rest = self.rest()
        rest.base = self.uri.rstrip("/") + V3
        return rest


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    directory = tmp_path_factory.mktemp("mlflow-auth")
    server = MlflowServer(directory / "mlflow", directory / "mlflow.log", basic_auth=True)
    server.start()
    try:
        server.wait_ready(120)
        creds = server.admin_credentials()
        assert creds is not None
        yield AuthServer(server.uri, (creds["username"], creds["password"]))
    finally:
        server.stop()


@dataclasses.dataclass
class AuthRepo(ConfigRepo):
    """The config repo of test_mlflow_backend, planned and applied as the MLflow admin."""

    admin: tuple[str, str] | None = None

    def backend(self) -> MlflowBackend:
        return MlflowBackend(MlflowRest(self.uri, auth=self.admin))

    def plan(self, prune: bool = False) -> Plan:
        backend = self.backend()
        backends: dict[str, Backend] = {"mlflow": backend}
        planned, _ = engine.make_plan(engine.load_desired(self.root), backends, prune=prune, targets=self.targets())
        planned.meta["calls"] = dict(backend.rest.calls)
        mine = tuple(c for c in planned.changes if c.ref.name.startswith(self.prefix))
        return dataclasses.replace(planned, changes=mine)

    def apply(self, planned: Plan) -> ApplyReport:
        return apply_plan(planned, {"mlflow": self.backend()}, ApplyOptions(actor=ACTOR), authorize=unchecked)  # type: ignore[dict-item]


def _repo(tmp_path: Path, uri: str, prefix: str, admin: tuple[str, str] | None, members: str) -> AuthRepo:
    root = tmp_path / "config"
    root.mkdir()
    _sh(root, "init", "-q", "-b", "main")
    repo = AuthRepo(root, uri, prefix, admin)
    (root / "mlcp.yaml").write_text("apiVersion: mlcp.dev/v1alpha1\nkind: Config\n", encoding="utf-8")
    (root / "policies").mkdir()
    (root / "policies" / "access.yaml").write_text(POLICY, encoding="utf-8")
    repo.write(f"tenants/{repo.tenant}/tenant.yaml", tenant(prefix, members), "tenant")
    repo.write(f"tenants/{repo.tenant}/experiments/exp.yaml", EXPERIMENT.format(name=f"{prefix}/exp"), "experiment")
    return repo


def tenant(prefix: str, members: str) -> str:
    return f"""
    apiVersion: mlcp.dev/v1alpha1
    kind: Tenant
    metadata: {{name: {prefix}}}
    spec:
      owners: [{prefix}-alice]
      members: {members}
    """


EXPERIMENT = """
apiVersion: mlcp.dev/v1alpha1
kind: Experiment
metadata: {{name: exp}}
spec: {{tracking: {{name: {name}}}}}
"""


def members(prefix: str, *extra: str) -> str:
    people = [
        f"{{name: {prefix}-bob, role: edit}}",
        f"{{name: {prefix}-vic, role: view}}",
        "{name: readers, kind: Group, role: view}",
        *extra,
    ]
    return "[" + ", ".join(people) + "]"


def create_users(server: AuthServer, prefix: str, *names: str) -> None:
    for name in names:
        server.rest().post("users/create", username=f"{prefix}-{name}", password=PASSWORD)


def level(server: AuthServer, user: str, resource_type: str, resource_id: str) -> str:
    query = {"username": user, "resource_type": resource_type, "resource_id": resource_id}
    found = server.grants_api().get("users/permissions/get", **query)
    return str(found["permission"])


def direct(server: AuthServer, user: str) -> dict[tuple[str, str], str]:
    rows = server.grants_api().get("users/permissions/list", username=user)["permissions"]
    return {(r["resource_type"], r["resource_pattern"]): r["permission"] for r in rows if "__user_" in r["role_name"]}


def permissions(planned: Plan) -> dict[str, Change]:
    return {c.ref.name.split("#")[1]: c for c in planned.changes if c.ref.kind.endswith("Permission")}


def test_plan_says_auth_is_on_and_apply_grants_owners_manage_members_edit_and_read(
    auth_server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    create_users(auth_server, prefix, "alice", "bob", "vic")
    repo = _repo(tmp_path, auth_server.uri, prefix, auth_server.admin, members(prefix))
    planned = repo.plan()
    assert planned.meta["registryAuth"] is True
    assert "basic-auth on" in "\n".join(text for text, _ in plan_view.text_lines(planned))
    assert "basic-auth on" in plan_view.markdown(planned)
    grants = permissions(planned)
    assert sorted(grants) == [f"{prefix}-alice", f"{prefix}-bob", f"{prefix}-vic"]  # the group gets nothing
    assert {c.action for c in grants.values()} == {Action.create} and not any(c.blocked for c in grants.values())
    assert grants[f"{prefix}-alice"].reason == f"grants MANAGE on {prefix}/exp to {prefix}-alice"

    report = repo.apply(planned)
    assert {o.status for o in report.outcomes} == {Status.applied}, report.outcomes
    exp_id = auth_server.rest().get("experiments/get-by-name", experiment_name=f"{prefix}/exp")["experiment"]
    exp_id = exp_id["experiment_id"]
    assert direct(auth_server, f"{prefix}-alice") == {("experiment", exp_id): "MANAGE"}
    assert level(auth_server, f"{prefix}-bob", "experiment", exp_id) == "EDIT"
    assert level(auth_server, f"{prefix}-vic", "experiment", exp_id) == "READ"
    tag = {"experiment_id": exp_id, "key": "note", "value": "x"}
    auth_server.rest(f"{prefix}-bob").post("experiments/set-experiment-tag", **tag)  # EDIT may write
    with pytest.raises(MlflowError) as denied:
        auth_server.rest(f"{prefix}-vic").post("experiments/set-experiment-tag", **tag)
    assert denied.value.status == 403
    assert {c.action for c in permissions(repo.plan()).values()} == {Action.noop}


def test_grants_follow_the_tenant_hand_edits_are_taken_back_and_removed_members_lose_theirs(
    auth_server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    create_users(auth_server, prefix, "alice", "bob", "vic")
    repo = _repo(tmp_path, auth_server.uri, prefix, auth_server.admin, members(prefix))
    repo.apply(repo.plan())
    exp_id = auth_server.rest().get("experiments/get-by-name", experiment_name=f"{prefix}/exp")["experiment"]
    exp_id = exp_id["experiment_id"]
    target = {"username": f"{prefix}-bob", "resource_type": "experiment", "resource_id": exp_id}
    auth_server.grants_api().post("users/permissions/revoke", **target)
    auth_server.grants_api().post("users/permissions/grant", **target, permission="MANAGE")

    repo.write(f"tenants/{repo.tenant}/tenant.yaml", tenant(prefix, f"[{{name: {prefix}-bob, role: edit}}]"))
    planned = repo.plan()
    grants = permissions(planned)
    assert grants[f"{prefix}-bob"].action is Action.update
    assert grants[f"{prefix}-bob"].reason == f"{prefix}-bob has MANAGE on {prefix}/exp, gets EDIT"
    vic = grants[f"{prefix}-vic"]
    assert vic.action is Action.delete and vic.blocked is None, "a removed member's grant is revoked, prune or not"

    report = repo.apply(planned)  # prune off: revoking access does not wait for it
    assert {o.status for o in report.outcomes} <= {Status.applied, Status.deleted, Status.unchanged}, report.outcomes
    assert direct(auth_server, f"{prefix}-bob") == {("experiment", exp_id): "EDIT"}
    assert direct(auth_server, f"{prefix}-vic") == {}
    assert set(permissions(repo.plan())) == {f"{prefix}-alice", f"{prefix}-bob"}


def test_a_user_missing_in_mlflow_blocks_only_its_grant_with_the_reason(
    auth_server: AuthServer, tmp_path: Path, prefix: str
) -> None:
    create_users(auth_server, prefix, "alice", "bob", "vic")
    ghost = f"{{name: {prefix}-ghost, role: edit}}"
    repo = _repo(tmp_path, auth_server.uri, prefix, auth_server.admin, members(prefix, ghost))
    planned = repo.plan()
    missing = permissions(planned)[f"{prefix}-ghost"]
    assert missing.blocked == (
        f"user {prefix}-ghost does not exist in MLflow; create it there first (admin or SSO), mlcp sets no passwords"
    )
    assert f"blocked: user {prefix}-ghost does not exist in MLflow" in plan_view.markdown(planned).replace("**", "")
    report = repo.apply(planned)
    by_user = {o.change.ref.name.split("#")[-1]: o.status for o in report.outcomes}
    assert by_user[f"{prefix}-ghost"] is Status.skipped and by_user[f"{prefix}-alice"] is Status.applied


def test_promoted_model_grants_on_the_registered_model(auth_server: AuthServer, tmp_path: Path, prefix: str) -> None:
    create_users(auth_server, prefix, "alice", "bob", "vic")
    model = register_ungoverned(auth_server.rest(), prefix, [{"auc": 0.95}])
    repo = _repo(tmp_path, auth_server.uri, prefix, auth_server.admin, members(prefix))
    repo.write(
        f"tenants/{repo.tenant}/promotions/prod.yaml",
        f"""
        apiVersion: mlcp.dev/v1alpha1
        kind: ModelPromotion
        metadata: {{name: prod}}
        spec: {{model: {model}, alias: production, version: 1}}
        """,
    )
    report = repo.apply(repo.plan())
    assert {o.status for o in report.outcomes} == {Status.applied}, report.outcomes
    assert level(auth_server, f"{prefix}-alice", "registered_model", model) == "MANAGE"
    assert level(auth_server, f"{prefix}-vic", "registered_model", model) == "READ"


def test_without_auth_the_plan_says_so_and_plans_no_permission_changes(
    mlflow_uri: str, tmp_path: Path, prefix: str
) -> None:
    repo = _repo(tmp_path, mlflow_uri, prefix, None, members(prefix))
    planned = repo.plan()
    assert planned.meta["registryAuth"] is False
    assert "no auth" in "\n".join(text for text, _ in plan_view.text_lines(planned))
    assert "registryAuth" in planned.to_json()
    grants = permissions(planned)
    assert len(grants) == 3 and {c.action for c in grants.values()} == {Action.noop}
    assert not any(c.blocked for c in grants.values())
    calls = planned.meta["calls"]
    assert not [path for path in calls if "users" in path or "permissions" in path], calls
