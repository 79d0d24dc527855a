"""Bob, an `edit` member of vision, writes Argo's own labels and annotations on the nightly pipeline.

mlcp copies a spec's labels and annotations onto the WorkflowTemplate and the CronWorkflow, and the
CronWorkflow passes Argo's `controller-instanceid` and `creator` labels on to every run it starts. With
`workflows.argoproj.io/controller-instanceid: shadow` the cluster's workflow-controller ignores the schedule (a
controller of that instance, if there is one, runs it instead); with `workflows.argoproj.io/creator: alice` every
scheduled run says Alice submitted it; `workflows.argoproj.io/pod-name-format` changes how Argo names the pods.
Through the operator's real `mlcp apply`: each key is refused at its file and line, and the live CronWorkflow
carries none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack

pytestmark = pytest.mark.integration

KEYS = {
    "labels": {"workflows.argoproj.io/controller-instanceid": "shadow", "workflows.argoproj.io/creator": "alice"},
    "annotations": {"workflows.argoproj.io/pod-name-format": "v1"},
}


@pytest.fixture
def op(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str) -> gitattack.Operator:
    return gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)


def test_argos_own_keys_never_reach_the_schedule(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    vision = op.repo.repo.vision
    rel = f"tenants/{vision}/{gitattack.PIPELINE}"
    written = "".join(
        f"  {field}:\n" + "".join(f"    {key}: {value}\n" for key, value in keys.items())
        for field, keys in KEYS.items()
    )
    op.repo.edit(rel, "  name: train-detector\n", "  name: train-detector\n" + written)
    op.repo.commit("train-detector: tidy metadata", "bob")
    lines = (op.repo.root / rel).read_text().splitlines()

    result = op.apply(tmp_path / "audit.jsonl")
    said = gitattack.said(result)
    assert result.exit_code == 1, gitattack.explain(result)
    for keys in KEYS.values():
        for key in keys:
            line = next(i for i, text in enumerate(lines, start=1) if key in text)
            assert f"{rel}:{line}:" in said and "Argo" in said, (key, said)
    assert "Traceback" not in result.output

    api = client.CustomObjectsApi(k8s_admin)
    cron = cast(
        dict[str, Any],
        api.get_namespaced_custom_object("argoproj.io", "v1alpha1", vision, "cronworkflows", "train-detector"),
    )
    meta = cron["metadata"]
    present = [k for k in (*meta.get("labels", {}), *meta.get("annotations", {})) if "argoproj.io/" in k]
    assert present == [], "none of Bob's keys reached the CronWorkflow"
