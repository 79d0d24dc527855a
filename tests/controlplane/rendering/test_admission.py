"""The shipped admission policies follow the declarations and let mlcp's own runs through.

The policies are judged by the real API server in tests/integration/attacks/test_run_escape.py and
test_tenant_privileges.py; these tests hold what they are generated from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_spec import IoArgoprojWorkflowV1alpha1WorkflowSpec

from controlplane import deployrbac, runs
from controlplane.rendering import admission, catalog
from tests.controlplane.helpers import PROJECT


def _scoped(policy: dict[str, Any]) -> set[tuple[str, str]]:
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    return {(group, plural) for rule in rules for group in rule["apiGroups"] for plural in rule["resources"]}


def test_mlcps_writes_of_every_platform_resource_are_confined() -> None:
    """A platform kind's resource mlcp may write anywhere (RBAC) is one the scope policy confines to its namespaces."""
    written = {(r.group, r.plural) for r in catalog.platform_resources()}
    assert _scoped(admission.scope_policy()) == written
    for rule in admission.scope_policy()["spec"]["matchConstraints"]["resourceRules"]:
        assert rule["operations"] == ["CREATE", "UPDATE", "DELETE"]


def test_the_runs_mlcp_makes_set_only_what_a_persons_run_may() -> None:
    """`mlcp run` and a CronWorkflow's runs (mlcp renders it) name the governed template and its parameters."""
    request = runs.RunRequest("train", "vision", "vision", {"epochs": "3"})
    assert set(runs.workflow_manifest(request)["spec"]) <= set(admission.RUN_FIELDS)
    fields = set(IoArgoprojWorkflowV1alpha1WorkflowSpec.attribute_map.values())
    assert set(admission.RUN_FIELDS) <= fields, "Argo's own names"


def test_the_policies_apply_where_they_must() -> None:
    """Runs in mlcp's namespaces only, for people granted runs in one namespace; mlcp's writes everywhere."""
    policies = {p["metadata"]["name"]: p for p in admission.policies() if p["kind"] == "ValidatingAdmissionPolicy"}
    bindings = {p["metadata"]["name"]: p for p in admission.policies() if p["kind"] != "ValidatingAdmissionPolicy"}
    assert set(policies) == set(bindings) == {admission.WORKFLOW_POLICY, admission.SCOPE_POLICY}
    assert bindings[admission.WORKFLOW_POLICY]["spec"]["matchResources"]["namespaceSelector"] == {
        "matchLabels": {"app.kubernetes.io/managed-by": "mlcp"}
    }
    assert "matchResources" not in bindings[admission.SCOPE_POLICY]["spec"], "every namespace"
    assert all(p["spec"]["failurePolicy"] == "Fail" for p in policies.values())
    assert all(b["spec"]["validationActions"] == ["Deny"] for b in bindings.values())


def test_the_shipped_file_is_fresh(tmp_path: Path) -> None:
    path = tmp_path / "clusterrole.yaml"
    assert deployrbac.main([str(path)]) == 0
    policies = tmp_path / deployrbac.ADMISSION
    assert (PROJECT / deployrbac.DEFAULT_PATH).parent.joinpath(deployrbac.ADMISSION).read_text() == policies.read_text()
    policies.write_text(policies.read_text().replace("shutdown", "podSpecPatch"))
    assert deployrbac.main(["--check", str(path)]) == 1, "the policies beside it are checked too"
