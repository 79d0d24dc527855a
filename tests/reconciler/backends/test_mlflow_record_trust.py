"""mlcp's record store under basic-auth: never read while anyone but mlcp and MLflow admins may write it.

An in-memory basic-auth MLflow (the inventory tests' fake, plus its users and
each user's permission as MLflow resolves it) stands in for the server;
tests/integration/attacks/test_squatted_record_store.py runs the attack
against a real one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.inventory import Claim
from controlplane.plans import Action, Change
from reconciler.backends.base import ApplyOptions, BackendError
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_inventory import ROLE, ROLE_TAG, STORE, record_tag
from reconciler.backends.mlflow_permissions import V3
from reconciler.backends.mlflow_record_trust import RECHECK
from tests.reconciler.backends.test_mlflow_inventory import EXP, MINE, OWN, RECORD, FakeMlflow

GET = V3 + "users/permissions/get"


class AuthMlflow(FakeMlflow):
    """The fake with basic-auth on: mlcp acts as `mlcp` (an admin); everyone gets `default` unless granted more."""

    def __init__(self, default: str = "READ") -> None:
        super().__init__()
        self.session.auth = ("mlcp", "password")
        self.users = {"mlcp": True, "root": True, "alice": False, "carol": False}
        self.default = default
        self.levels: dict[tuple[str, str], str] = {}
        """(user, experiment id) → the level MLflow resolves for that user there."""

    def auth_enabled(self) -> bool | None:
        return True

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        body = body or {}
        if path == "users/list":
            self.calls[path] += 1
            return {"users": [{"username": u, "is_admin": admin} for u, admin in self.users.items()]}
        if path == GET:
            self.calls[path] += 1
            level = self.levels.get((body["username"], body["resource_id"]), self.default)
            return {"allowed": level != "NO_PERMISSIONS", "permission": level}
        if path == V3 + "users/permissions/list":
            self.calls[path] += 1
            return {"permissions": []}
        return super().call(method, path, body)


def _squatted(rest: AuthMlflow, name: str = MINE) -> str:
    """Carol's store: made by her (MANAGE, as MLflow gives its creator), tagged as mlcp's, with her record of EXP."""
    value = {"kind": EXP.kind, "name": EXP.name, "spec": "Experiment/carol/x", "tenant": "carol", "source": "x.yaml"}
    made = rest.add(name, {ROLE_TAG: ROLE, **OWN, record_tag(EXP): json.dumps(value)})
    rest.levels[("carol", made["experiment_id"])] = "MANAGE"
    return str(made["experiment_id"])


@pytest.mark.parametrize("name", [MINE, STORE], ids=["installation's", "older mlcp's"])
def test_a_store_someone_else_made_is_refused_before_any_record_is_read(name: str) -> None:
    rest = AuthMlflow()
    rest.add(EXP.name, OWN)
    exp_id = _squatted(rest, name)
    backend = MlflowBackend(rest)
    with pytest.raises(BackendError) as refused:
        backend.read()
    assert f"{name!r} (id {exp_id})" in str(refused.value) and "carol (MANAGE)" in str(refused.value)
    assert "rename it to a name not starting with 'mlcp-inventory'" in str(refused.value)
    assert backend.store.records == {} and not backend.store.exists, "nothing of hers is kept"
    with pytest.raises(BackendError):  # an apply after the refused read writes no record there either
        backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=True)}))
    assert not rest.writes, "nothing written to this MLflow"


def test_a_grant_given_later_on_mlcps_own_store_is_found_within_recheck() -> None:
    rest, now = AuthMlflow(), [0.0]
    backend = MlflowBackend(rest)
    backend.trust.clock = lambda: now[0]
    backend.read()
    backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=True)}))
    store_id = rest.experiments[MINE]["experiment_id"]
    assert rest.calls[GET] == 2, "checked right after mlcp made it: alice and carol (mlcp and admins not asked)"
    assert backend.read().inventory.records[EXP] == RECORD
    assert rest.calls[GET] == 2, "the verdict is kept"

    rest.levels[("alice", store_id)] = "EDIT"  # a grant on mlcp's own store, given by an admin by mistake
    now[0] = RECHECK + 1
    with pytest.raises(BackendError, match=r"alice \(EDIT\)"):
        backend.read()
    del rest.levels[("alice", store_id)]
    assert backend.read().inventory.records[EXP] == RECORD, "revoked: trusted again"
    rest.levels[("carol", store_id)] = "MANAGE"
    backend.forget()  # a new leadership term
    with pytest.raises(BackendError, match=r"carol \(MANAGE\)"):
        backend.read()


def test_admins_and_readers_do_not_count() -> None:
    rest = AuthMlflow()
    backend = MlflowBackend(rest)
    backend.read()
    backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=True)}))
    store_id = rest.experiments[MINE]["experiment_id"]
    rest.levels.update({("root", store_id): "MANAGE", ("alice", store_id): "READ", ("carol", store_id): "USE"})
    backend.forget()
    assert backend.read().inventory.records[EXP] == RECORD
    assert rest.calls[GET] == 4, "admins (mlcp, root) are never asked"


def test_a_server_that_lets_everyone_edit_gets_no_records_written() -> None:
    rest = AuthMlflow(default="EDIT")
    backend = MlflowBackend(rest)
    backend.read()
    with pytest.raises(BackendError, match=r"alice \(EDIT\), carol \(EDIT\).*default_permission at READ"):
        backend.record_inventory(frozenset({EXP}), ApplyOptions(claims={EXP: Claim(RECORD, wrote=True)}))
    assert [path for path, _ in rest.writes] == ["experiments/create"], "made, checked, no record written in it"
    with pytest.raises(BackendError):
        backend.read()


def test_an_untrusted_store_blocks_the_plan_of_this_server_only() -> None:
    rest = AuthMlflow()
    rest.add(EXP.name, OWN)
    _squatted(rest)
    backend = MlflowBackend(rest)
    with pytest.raises(BackendError):
        backend.read()
    [change] = backend.review([_delete()])
    assert change.spec is None and change.tenant is None, "her record attributes nothing"


def test_a_refused_store_is_among_the_record_problems_the_audit_log_records() -> None:
    """The refusal was a plan error and a metric only: `mlcp audit` showed nothing of Carol's store. The loop and
    apply record every record problem (tests/controlplane/audit/test_cli.py, test_forged_inventory_piece.py)."""
    rest = AuthMlflow()
    exp_id = _squatted(rest)
    backend = MlflowBackend(rest)
    with pytest.raises(BackendError) as refused:
        backend.read()
    assert backend.record_problems == (str(refused.value),) and f"(id {exp_id})" in str(refused.value)
    assert "carol (MANAGE)" in backend.record_problems[0]

    untagged = AuthMlflow()
    untagged.add(MINE, OWN)  # her experiment under mlcp's store name, without the role tag
    backend = MlflowBackend(untagged)
    with pytest.raises(BackendError):
        backend.read()
    [problem] = backend.record_problems
    assert "is not mlcp's inventory" in problem


def _delete() -> Change:
    return Change(EXP, Action.delete, "removed from git", None, None, None, 60, live_version="v")


@pytest.mark.parametrize("name", [f"{STORE}.team-x", STORE], ids=["an installation's", "an older mlcp's"])
def test_another_installations_store_someone_else_may_write_blocks_nothing_and_is_reported(name: str) -> None:
    rest = AuthMlflow()
    rest.add(MINE, {ROLE_TAG: ROLE, **OWN})  # this installation's, so an older mlcp's name is another's
    exp_id = _squatted(rest, name)  # Carol's, naming the experiment the tenant is about to declare
    backend = MlflowBackend(rest)
    backend.read()
    declared = Change(EXP, Action.create, "declared", None, "vision", None, 60, desired={"name": EXP.name})
    [change] = backend.review([declared])
    assert change.blocked is None, "her store does not refuse the tenant its experiment"
    [problem] = backend.record_problems
    assert f"{name!r} (id {exp_id})" in problem and "carol (MANAGE)" in problem and "ignored" in problem
    assert problem in backend.notes

    rest.levels.pop(("carol", exp_id))  # another installation's store only it and admins may write
    backend.forget()
    backend.read()
    [change] = backend.review([declared])
    assert change.blocked and "managed by another mlcp" in change.blocked
    assert backend.record_problems == ()
