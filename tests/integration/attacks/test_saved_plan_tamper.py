"""A saved plan edited between review and apply: `mlcp apply plan.json` plans its revision again and refuses.

The plan file is an artifact anyone on its way may edit (a CI job, a shared
folder). Bob, a member of vision, gets a new data image for his pipeline and,
in the same commit, 64 GPUs for vision, which he may not have: the operator's
`mlcp plan --out` shows the quota change denied. Bob then edits the file the
way an attacker would — flips the denial to allowed, swaps his image for
another, adds a RoleBinding making himself admin, asks for pruning, writes a
list where a name goes, points the plan at a commit that does not exist — and
every edit is refused with exit 1, naming the difference, with nothing applied
and the refusal in the audit log, under the commit the file names and naming
no one (who edited the file is not known; it was recorded as the admin's, the
author of the operator's HEAD, which had moved on). The untouched file then
applies as reviewed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack
from tests.integration.attacks.gitattack import GPU, OLD_IMAGE, PIPELINE

pytestmark = pytest.mark.integration

NEW_IMAGE = "ghcr.io/example/vision-data:1.4.0"
EVIL_IMAGE = "ghcr.io/mallory/miner:latest"
Edit = Callable[[dict[str, Any]], None]


def _change(plan: dict[str, Any], kind: str) -> dict[str, Any]:
    [found] = [c for c in plan["changes"] if c["ref"]["kind"] == kind and c["action"] != "no-op"]
    return found


def _allow_the_quota(plan: dict[str, Any]) -> None:
    quota = _change(plan, "ResourceQuota")
    actors = quota["decision"]["actors"]
    quota["decision"] = {"allowed": True, "rule": "tenant-developer", "reason": "allowed", "actors": actors}
    quota["blocked"] = None


def _swap_the_image(plan: dict[str, Any]) -> None:
    template = _change(plan, "WorkflowTemplate")
    text = json.dumps(template).replace(NEW_IMAGE, EVIL_IMAGE)
    template.clear()
    template.update(json.loads(text))


def _add_an_admin_binding(plan: dict[str, Any]) -> None:
    template = _change(plan, "WorkflowTemplate")
    namespace = template["ref"]["namespace"]
    binding = copy.deepcopy(template)
    binding["ref"] = {**template["ref"], "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding"}
    binding["ref"]["name"] = "bob-is-admin"
    binding["action"], binding["diffs"], binding["liveVersion"] = "create", [], None
    binding["desired"] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": "bob-is-admin",
            "namespace": namespace,
            "labels": template["desired"]["metadata"]["labels"],
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob@example.com"}],
    }
    plan["changes"].append(binding)


def _a_list_as_a_name(plan: dict[str, Any]) -> None:
    _change(plan, "WorkflowTemplate")["ref"]["name"] = ["train-detector"]


def _prune(plan: dict[str, Any]) -> None:
    plan["prune"] = True


def _unknown_revision(plan: dict[str, Any]) -> None:
    plan["revision"] = "0" * 40


def _a_branch_name(plan: dict[str, Any]) -> None:
    plan["revision"] = "main"


ATTACKS: dict[str, tuple[Edit, str]] = {
    "denied quota flipped to allowed": (_allow_the_quota, "ResourceQuota/"),
    "image swapped": (_swap_the_image, EVIL_IMAGE),
    "admin RoleBinding added": (_add_an_admin_binding, "RoleBinding/"),
    "pruning asked for": (_prune, "prune: on in the saved plan, off now"),
    "a list as a name": (_a_list_as_a_name, "not a plan mlcp writes: changes["),
    "a commit that does not exist": (_unknown_revision, "cannot resolve"),
    "a branch name for a revision": (_a_branch_name, "names no commit"),
}


def test_every_edit_of_a_saved_plan_is_refused_and_the_untouched_plan_applies(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision = op.repo, op.repo.repo.vision
    repo.edit(f"tenants/{vision}/{PIPELINE}", OLD_IMAGE, NEW_IMAGE)
    repo.edit(f"tenants/{vision}/quota.yaml", f'{GPU}: "4"', f'{GPU}: "64"')
    named_commit = repo.commit("vision: new data image (and a few GPUs)", "bob")

    saved = tmp_path / "plan.json"
    result = op.cli("plan", str(repo.root), "--out", str(saved), *op._targets())
    assert result.exit_code == 0, gitattack.explain(result)
    reviewed = json.loads(saved.read_text())
    quota = _change(reviewed, "ResourceQuota")
    assert quota["decision"]["allowed"] is False and quota["blocked"], "the reviewer saw the quota raise denied"
    repo.write("NOTES.md", "unrelated\n")
    repo.commit("admin: notes", "admin")  # the operator's clone moves on before the files come back

    audit = tmp_path / "attack.jsonl"
    for name, (edit, named) in ATTACKS.items():
        tampered = copy.deepcopy(reviewed)
        edit(tampered)
        tampered_file = tmp_path / f"{name.replace(' ', '-')}.json"
        tampered_file.write_text(json.dumps(tampered))
        result = op.cli(
            "apply", str(tampered_file), "--repo", str(op.repo.root), "--yes", "--audit-log", str(audit), *op._targets()
        )
        said = gitattack.said(result)
        assert result.exit_code == 1, f"{name}: {gitattack.explain(result)}"
        assert named in said and "nothing was applied" in said, f"{name}: {said}"
        assert gitattack.step_images(k8s_admin, vision, "train-detector")[0] == OLD_IMAGE, name
        assert gitattack.gpu_quota(k8s_admin, vision) == "4", name
    rbac = client.RbacAuthorizationV1Api(k8s_admin)
    assert "bob-is-admin" not in [b.metadata.name for b in rbac.list_namespaced_role_binding(vision).items]

    refusals = op.records(audit, "--decision", "deny")
    assert {r["rule"] for r in refusals} == {"saved-plan"}
    assert len(refusals) == 5, "each edited plan of a real commit is recorded; unresolvable revisions never planned"
    assert {(r["commit"], tuple(r["actors"])) for r in refusals} == {(named_commit, ())}, "its commit, no one"
    assert any("ResourceQuota" in r["reason"] and "decision" in r["reason"] for r in refusals)

    result = op.cli(
        "apply", str(saved), "--repo", str(op.repo.root), "--yes", "--audit-log", str(audit), *op._targets()
    )
    assert result.exit_code == 0, gitattack.explain(result)
    assert gitattack.step_images(k8s_admin, vision, "train-detector")[0] == NEW_IMAGE, "the reviewed plan applies"
    assert gitattack.gpu_quota(k8s_admin, vision) == "4", "with the quota raise still denied"
    assert op.verified(audit)
