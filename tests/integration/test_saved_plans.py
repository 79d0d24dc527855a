"""Saved plans the honest way: planned again at apply time, applied when they agree (attacks: attacks/).

`mlcp apply plan.json` plans the revision the file names with the trusted base and the operator's flags,
so a plan of a branch head applies, a plan of uncommitted files never does, and a plan made with
`--prune` needs `--prune` again: deleting is the operator's decision at apply time, not the file's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client
from typer.testing import CliRunner, Result

from controlplane.cli.app import app
from tests.integration import configrepo

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def repo(tmp_path: Path, prefix: str) -> configrepo.ConfigRepo:
    return configrepo.make(tmp_path, prefix)


def _mlcp(repo: configrepo.ConfigRepo, kubeconfig: Path, *args: str, trusted: bool = False) -> Result:
    return runner.invoke(app, [*args, "--kubeconfig", str(kubeconfig), *repo.operator_args(trusted)])


def _said(result: Result) -> str:
    return " ".join(result.output.split())


def test_a_plan_of_a_branch_head_applies_and_one_of_uncommitted_files_never_does(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    assert _mlcp(repo, kubeconfig, "apply", str(repo.root), "--yes", trusted=True).exit_code == 0
    repo.git.git.checkout("-b", "feature")
    repo.edit(f"tenants/{repo.nlp}/quota.yaml", 'count/pods: "100"', 'count/pods: "150"')
    repo.commit("nlp: more pods")
    repo.git.git.checkout("main")
    saved = tmp_path / "head.json"
    planned = _mlcp(repo, kubeconfig, "plan", str(repo.root), "--head", "feature", "--out", str(saved))
    assert planned.exit_code == 0, planned.output
    assert json.loads(saved.read_text())["repo"] == str(repo.root.resolve()), "the repo, not a temporary tree"
    result = _mlcp(repo, kubeconfig, "apply", str(saved), "--repo", str(repo.root), "--yes")
    assert result.exit_code == 0, result.output
    quota = client.CoreV1Api(k8s_admin).read_namespaced_resource_quota("compute", repo.nlp)
    assert quota.spec is not None and quota.spec.hard is not None and quota.spec.hard["count/pods"] == "150"

    repo.git.git.checkout("feature")  # the applied revision: what comes next descends from it
    repo.edit(f"tenants/{repo.nlp}/quota.yaml", 'count/pods: "150"', 'count/pods: "500"')  # not committed
    dirty = tmp_path / "dirty.json"
    assert _mlcp(repo, kubeconfig, "plan", str(repo.root), "--out", str(dirty)).exit_code == 0
    result = _mlcp(repo, kubeconfig, "apply", str(dirty), "--repo", str(repo.root), "--yes")
    assert result.exit_code == 1 and "refused (saved-plan)" in _said(result), result.output
    assert "plan a committed revision" in _said(result)
    quota = client.CoreV1Api(k8s_admin).read_namespaced_resource_quota("compute", repo.nlp)
    assert quota.spec is not None and quota.spec.hard is not None and quota.spec.hard["count/pods"] == "150"


def test_a_plan_made_with_prune_deletes_only_when_apply_is_told_to_prune(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    assert _mlcp(repo, kubeconfig, "apply", str(repo.root), "--yes", trusted=True).exit_code == 0
    repo.path(f"tenants/{repo.vision}/pipelines/train-detector.yaml").unlink()
    repo.path(f"tenants/{repo.vision}/experiments/detector.yaml").unlink()  # its trials ran the pipeline
    repo.path(f"tenants/{repo.vision}/training/finetune-detector.yaml").unlink()  # it logs to that experiment
    repo.commit("vision: retire train-detector")
    saved = tmp_path / "prune.json"
    planned = _mlcp(repo, kubeconfig, "plan", str(repo.root), "--prune", "--out", str(saved))
    assert planned.exit_code == 0, planned.output
    deletes = [c["ref"]["kind"] for c in json.loads(saved.read_text())["changes"] if c["action"] == "delete"]
    assert "WorkflowTemplate" in deletes

    result = _mlcp(repo, kubeconfig, "apply", str(saved), "--repo", str(repo.root), "--yes")
    assert result.exit_code == 1 and "prune: on in the saved plan, off now (--prune)" in _said(result), result.output
    custom = client.CustomObjectsApi(k8s_admin)
    assert custom.get_namespaced_custom_object(
        "argoproj.io", "v1alpha1", repo.vision, "workflowtemplates", "train-detector"
    ), "nothing was deleted"

    result = _mlcp(repo, kubeconfig, "apply", str(saved), "--repo", str(repo.root), "--yes", "--prune")
    assert result.exit_code == 0, result.output
    names = custom.list_namespaced_custom_object("argoproj.io", "v1alpha1", repo.vision, "workflowtemplates")
    assert "train-detector" not in [item["metadata"]["name"] for item in names["items"]]
