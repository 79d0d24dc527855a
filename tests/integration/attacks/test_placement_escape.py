"""Bob, an `edit` member of vision, steers its pipeline's pods onto the control plane, and its training elsewhere.

The literal rule refused `tolerations: [{operator: Exists}]` and `key: node-role.kubernetes.io/control-plane`.
Bob writes what Kubernetes reads the same: an empty key, a key Argo substitutes from a parameter whose default
is the control plane's taint when each run starts, a `preferred` affinity (never checked) and a pin to one node by
its hostname. And in the TrainingJob he names `MLFLOW_EXPERIMENT_NAME` in `secretEnv`: rendered after the entry
mlcp sets from `experiment`, his would win, and the job's runs would go to whatever experiment a ConfigMap names.
Through the operator's real `mlcp apply` against the real API server: every one is refused with file and line,
and nothing of his reaches the cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack

pytestmark = pytest.mark.integration

TRAINING = "training/finetune-detector.yaml"
ANCHOR = "      dependsOn: [train]\n"
ESCAPES = (
    "      tolerations:\n"
    '        - {key: "", operator: Exists}\n'
    '        - {key: "{{workflow.parameters.t}}", operator: Exists, effect: NoSchedule}\n'
    "      nodeSelector: {kubernetes.io/hostname: control-plane-1}\n"
    "      affinity:\n"
    "        preferred:\n"
    "          - weight: 100\n"
    "            match: [{key: node-role.kubernetes.io/control-plane, operator: Exists}]\n"
)


@pytest.fixture
def op(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str) -> gitattack.Operator:
    return gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)


def _live(k8s_admin: client.ApiClient, namespace: str, plural: str, name: str, group: str, version: str) -> Any:
    api = client.CustomObjectsApi(k8s_admin)
    return cast(dict[str, Any], api.get_namespaced_custom_object(group, version, namespace, plural, name))


def test_no_spelling_of_the_cluster_s_nodes_gets_a_step_there(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    vision = op.repo.repo.vision
    rel = f"tenants/{vision}/{gitattack.PIPELINE}"
    op.repo.edit(
        rel, "  parameters:\n", "  parameters:\n    - {name: t, value: node-role.kubernetes.io/control-plane}\n"
    )
    op.repo.edit(rel, ANCHOR, ANCHOR + ESCAPES)
    op.repo.commit("evaluate: run on the big nodes", "bob")
    lines = (op.repo.root / rel).read_text().splitlines()

    result = op.apply(tmp_path / "audit.jsonl")
    said = gitattack.said(result)
    assert result.exit_code == 1, gitattack.explain(result)
    for needle, message in [
        ('key: ""', "tolerates every taint"),
        ("{{workflow.parameters.t}}", "takes no `{{...}}`"),
        ("kubernetes.io/hostname", "names a single node"),
        ("node-role.kubernetes.io/control-plane, operator", "is the cluster's"),
    ]:
        line = next(i for i, text in enumerate(lines, start=1) if needle in text)
        assert f"{rel}:{line}:" in said and message in said, (needle, said)
    assert "Traceback" not in result.output

    template = _live(k8s_admin, vision, "workflowtemplates", "train-detector", "argoproj.io", "v1alpha1")
    placed = [t for t in template["spec"]["templates"] if t.get("tolerations") or t.get("affinity")]
    assert placed == [], "nothing of Bob's change reached the cluster"


def test_a_training_job_logs_only_to_its_reviewed_experiment(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    vision = op.repo.repo.vision
    rel = f"tenants/{vision}/{TRAINING}"
    op.repo.edit(
        rel, "  secretEnv:\n", "  secretEnv:\n    - {name: MLFLOW_EXPERIMENT_NAME, configMap: {name: bobs, key: exp}}\n"
    )
    op.repo.commit("finetune: experiment from config", "bob")
    line = next(
        i for i, t in enumerate((op.repo.root / rel).read_text().splitlines(), 1) if "configMap: {name: bobs" in t
    )

    result = op.apply(tmp_path / "audit.jsonl")
    said = gitattack.said(result)
    assert result.exit_code == 1, gitattack.explain(result)
    assert f"{rel}:{line}:" in said and "MLFLOW_EXPERIMENT_NAME is set from `experiment`" in said, said
    job = _live(k8s_admin, vision, "trainjobs", "finetune-detector", "trainer.kubeflow.org", "v1alpha1")
    names = [e["name"] for e in job["spec"]["trainer"]["env"]]
    assert names.count("MLFLOW_EXPERIMENT_NAME") == 1, names
