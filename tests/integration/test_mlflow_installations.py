"""Two mlcp installations (two controller namespaces, two config repos) sharing one real MLflow server.

Before, mlcp's MLflow records lived on one experiment per server (`mlcp-inventory`), so every installation read
every other's records as its own: a `--prune` of one planned the deletion of the other's experiments (recorded,
tagged as mlcp's, not in its git), and one declaring the same name took the other's object over. Each
installation now keeps its records on `mlcp-inventory.<controller namespace>`, like its ConfigMap inventory in
the cluster, and what another's store records is refused to it. The session's MLflow holds other tests' objects
too, so plans keep only this test's names.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from controlplane.plans import Action, Plan
from reconciler import engine
from reconciler.applying import apply_plan, unchecked
from reconciler.backends.base import ApplyOptions, Backend, Status
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_rest import MlflowRest
from tests.integration.mlflow_rest import MlflowRest as Rest
from tests.integration.test_mlflow_backend import ACTOR, POLICY, TENANT, ConfigRepo, experiment

pytestmark = pytest.mark.integration


@dataclasses.dataclass
class Installation(ConfigRepo):
    """A config repo applied by the mlcp of one controller namespace."""

    namespace: str = "mlcp-system"

    def backend(self) -> MlflowBackend:
        return MlflowBackend(MlflowRest(self.uri), self.namespace)

    def plan(self, prune: bool = False) -> Plan:
        desired = engine.load_desired(self.root)
        backends: dict[str, Backend] = {"mlflow": self.backend()}
        planned, _ = engine.make_plan(desired, backends, prune=prune, targets=self.targets())
        mine = tuple(c for c in planned.changes if c.ref.name.startswith(self.prefix))
        return dataclasses.replace(planned, changes=mine)

    def apply_planned(self, planned: Plan) -> list[Status]:
        report = apply_plan(planned, {"mlflow": self.backend()}, ApplyOptions(actor=ACTOR), authorize=unchecked)
        return [o.status for o in report.outcomes]


def _installation(tmp_path: Path, uri: str, prefix: str, name: str) -> Installation:
    root = tmp_path / name
    (root / "policies").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    (root / "mlcp.yaml").write_text("apiVersion: mlcp.dev/v1alpha1\nkind: Config\n", encoding="utf-8")
    (root / "policies" / "access.yaml").write_text(POLICY, encoding="utf-8")
    found = Installation(root, uri, prefix, f"{prefix}-{name}"[:63])
    found.write(f"tenants/{prefix}/tenant.yaml", TENANT.format(name=prefix), "tenant")
    return found


def test_two_installations_on_one_mlflow_never_prune_or_take_over_each_others_objects(
    tmp_path: Path, mlflow_uri: str, prefix: str
) -> None:
    a = _installation(tmp_path, mlflow_uri, prefix, "a")
    b = _installation(tmp_path, mlflow_uri, prefix, "b")
    spec = experiment(prefix, {"team": "a"}, "a's")
    a.write(f"tenants/{prefix}/experiments/churn.yaml", spec)
    assert a.apply_planned(a.plan()) == [Status.applied]
    rest = Rest(mlflow_uri)
    found = rest.get("experiments/get-by-name", experiment_name=f"{prefix}/churn")["experiment"]

    pruning = b.plan(prune=True)
    assert [c for c in pruning.changes if c.action is Action.delete] == [], "b prunes nothing of a's"
    b.apply_planned(pruning)

    b.write(f"tenants/{prefix}/experiments/churn.yaml", experiment(prefix, {"team": "b"}, "b's"))
    [taking] = [c for c in b.plan().changes if c.ref.kind == "Experiment"]
    assert taking.blocked and f"managed by another mlcp, installation {a.namespace!r}" in taking.blocked
    assert Status.applied not in b.apply_planned(b.plan())
    after = rest.get("experiments/get", experiment_id=found["experiment_id"])["experiment"]
    assert {t["key"]: t["value"] for t in after["tags"]}["team"] == "a", "b wrote nothing on a's experiment"

    [kept] = [c for c in a.plan(prune=True).changes if c.ref.kind == "Experiment"]
    assert kept.action is Action.noop, "a still owns it, and b's attempt recorded nothing of b's"
    store = rest.get("experiments/get-by-name", experiment_name=f"mlcp-inventory.{a.namespace}")["experiment"]
    assert any(t["key"].startswith("mlcp.dev/record.") for t in store["tags"]), "a's record, in a's store"


def test_an_older_mlcps_record_is_renamed_to_the_first_upgraded_installations_on_a_real_server(
    tmp_path: Path, mlflow_uri: str, prefix: str
) -> None:
    a = _installation(tmp_path, mlflow_uri, prefix, "a")
    a.write(f"tenants/{prefix}/experiments/churn.yaml", experiment(prefix, {"team": "a"}, "a's"))
    assert a.apply_planned(a.plan()) == [Status.applied]
    rest = Rest(mlflow_uri)
    mine = rest.get("experiments/get-by-name", experiment_name=f"mlcp-inventory.{a.namespace}")["experiment"]
    rest.post("experiments/update", experiment_id=mine["experiment_id"], new_name="mlcp-inventory")  # as it was
    rest.post("experiments/delete-experiment-tag", experiment_id=mine["experiment_id"], key="mlcp.dev/installation")
    try:
        assert [c.action for c in a.plan(prune=True).changes if c.ref.kind == "Experiment"] == [Action.noop]
        a.apply_planned(a.plan())
        renamed = rest.get("experiments/get", experiment_id=mine["experiment_id"])["experiment"]
        assert renamed["name"] == f"mlcp-inventory.{a.namespace}", "the first apply takes the old record"
        tags = {t["key"]: t["value"] for t in renamed["tags"]}
        assert tags["mlcp.dev/installation"] == a.namespace
        a.remove(f"tenants/{prefix}/experiments/churn.yaml")
        [prune] = [c for c in a.plan(prune=True).changes if c.ref.kind == "Experiment"]
        assert prune.action is Action.delete and prune.tenant == prefix, "its records kept their attribution"
    finally:
        found = rest.get("experiments/get", experiment_id=mine["experiment_id"])["experiment"]
        if found["name"] == "mlcp-inventory":  # never leave an old store for the session's other tests
            rest.post(
                "experiments/update", experiment_id=mine["experiment_id"], new_name=f"mlcp-inventory.{a.namespace}"
            )
