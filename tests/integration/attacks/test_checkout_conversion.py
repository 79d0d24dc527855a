"""Bob makes the checkout differ from the commit: a `.gitattributes` of his re-encodes his pipeline on checkout.

Bob, an `edit` member of vision, may change its pipelines. He commits `.gitattributes` naming
`working-tree-encoding=UTF-7` for vision's pipelines and an edit of train-detector: the commit (what `git show`,
the forge's diff and the audit log's commit name) holds `command: [python, -m, "train"]`, every checkout git
makes writes `command: [python, -m, +ACI-train+ACI-]`, and `git status` calls the work tree clean. mlcp read the
work tree, so it applied a step command no commit holds, under a commit whose content says otherwise. A change of
a file git checks out through a conversion is now denied (rule `uncommitted`) in `mlcp apply` and in the loop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack

pytestmark = pytest.mark.integration

PIPELINE = "pipelines/train-detector.yaml"


def _commands(k8s_admin: client.ApiClient, namespace: str) -> list[list[str]]:
    template = cast(
        dict[str, Any],
        client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
            "argoproj.io", "v1alpha1", namespace, "workflowtemplates", "train-detector"
        ),
    )
    return [list(t["container"]["command"]) for t in template["spec"]["templates"] if t.get("container")]


def test_a_file_git_re_encodes_on_checkout_is_not_applied_as_its_commit(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, vision = op.repo, op.repo.repo.vision
    before = _commands(k8s_admin, vision)
    assert ["python", "-m", "train"] in before
    repo.write(".gitattributes", f"tenants/{vision}/pipelines/*.yaml working-tree-encoding=UTF-7\n")
    # Bob's work tree holds the UTF-7 text; git stores it as UTF-8 and writes it back as UTF-7 on every checkout
    repo.edit(f"tenants/{vision}/{PIPELINE}", "command: [python, -m, train]", "command: [python, -m, +ACI-train+ACI-]")
    head = repo.commit("vision: quote the module", "bob")
    assert 'command: [python, -m, "train"]' in repo.git("show", f"{head}:tenants/{vision}/{PIPELINE}")
    assert repo.git("status", "--porcelain") == "", "git calls the converted work tree clean"

    audit = tmp_path / "apply.jsonl"
    result = op.apply(audit)
    said = gitattack.said(result)
    assert isinstance(result.exception, SystemExit | None), gitattack.explain(result)
    assert "working-tree-encoding=UTF-7" in said and "no commit vouches for it" in said, said
    assert _commands(k8s_admin, vision) == before, "nothing the commit does not hold was applied"
    [denied] = op.records(audit, "--decision", "deny", "--kind", "WorkflowTemplate")
    assert denied["rule"] == "uncommitted" and denied["specPath"] == f"tenants/{vision}/{PIPELINE}"

    # The loop's own clone converts the whole file (`#` and every `"` too): judged, or refused as YAML, never applied
    code, log = op.reconcile_once(tmp_path / "loop.jsonl")
    assert code == 1 and "Traceback" not in log, log
    [done] = [line for line in map(json.loads, log.splitlines()) if line.get("msg") == "pass done"]
    assert done["revision"] == head and vision in done["failedTenants"], log
    assert _commands(k8s_admin, vision) == before
