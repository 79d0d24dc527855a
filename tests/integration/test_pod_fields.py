"""Each pod field mlcp refuses in a step is one the real API server refuses in the step's pod, and no more.

Argo creates a step's pod only when a run reaches it, so a field the API server refuses passed `mlcp validate`
and apply and then failed every run. For each rule: mlcp refuses the spec with file and line, and the pod mlcp's
own renderer makes of the same step (built past validation, as if mlcp had let it through) is refused by a
dry-run create; the pod of a step using every such field well is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane.rendering import serialize
from controlplane.rendering.pipeline_steps import container_template
from controlplane.specs import pipeline_steps as spec
from tests.controlplane.helpers import copy_template, edit, line_of, problems

pytestmark = pytest.mark.integration

TRAIN = "tenants/vision/pipelines/train-detector.yaml"
ANCHOR = "      dependsOn: [train]\n"
VOLUMES = "  volumes:\n    - {name: scratch, emptyDir: {}}\n  steps:\n"

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("env: {A=B: x}", "env", {"env": {"A=B": "x"}}),
    (
        "envFrom: [{name: 'has space=1', secret: {name: c, key: k}}]",
        "env",
        {"env_from": [spec.EnvFrom.model_construct(name="has space=1", secret=spec.KeyRef(name="c", key="k"))]},
    ),
    (
        "volumeMounts: [{volume: scratch, mountPath: /s, subPath: ../../etc}]",
        "subPath",
        {"volume_mounts": [spec.VolumeMount.model_construct(volume="scratch", mount_path="/s", sub_path="../../etc")]},
    ),
    ("nodeSelector: {'not a key!': gpu}", "nodeSelector", {"node_selector": {"not a key!": "gpu"}}),
    ("nodeSelector: {pool: 'not a value!'}", "nodeSelector", {"node_selector": {"pool": "not a value!"}}),
    (
        "tolerations: [{key: 'bad key!', operator: Exists}]",
        "tolerations",
        {"tolerations": [spec.Toleration(key="bad key!", operator="Exists")]},
    ),
    (
        "tolerations: [{key: gpu, operator: Exists, value: present}]",
        "tolerations",
        {"tolerations": [spec.Toleration(key="gpu", operator="Exists", value="present")]},
    ),
    ("tolerations: [{value: x}]", "tolerations", {"tolerations": [spec.Toleration(value="x")]}),
    (
        "affinity: {required: [{key: pool, operator: In}]}",
        "affinity",
        {"affinity": spec.NodeAffinity(required=[spec.NodeRequirement(key="pool", operator="In")])},
    ),
    (
        "affinity: {required: [{key: pool, operator: Gt, values: ['-1']}]}",
        "affinity",
        {"affinity": spec.NodeAffinity(required=[spec.NodeRequirement(key="pool", operator="Gt", values=["-1"])])},
    ),
    (
        "affinity: {required: [{key: pool, operator: Exists, values: [a]}]}",
        "affinity",
        {"affinity": spec.NodeAffinity(required=[spec.NodeRequirement(key="pool", operator="Exists", values=["a"])])},
    ),
]


def _pod(step: spec.Step) -> dict[str, Any]:
    """The pod Argo makes of the step's template: its container, volumes and placement (Argo's own parts aside)."""
    template = serialize.argo(container_template(step.name, step))
    container = {"name": "main", **template["container"]}
    pod_spec: dict[str, Any] = {"containers": [container], "volumes": [{"name": "scratch", "emptyDir": {}}]}
    for field in ("nodeSelector", "tolerations", "affinity"):
        if field in template:
            pod_spec[field] = template[field]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "step"}, "spec": pod_spec}


def _refusal(admin: client.ApiClient, pod: dict[str, Any]) -> str | None:
    try:
        client.CoreV1Api(admin).create_namespaced_pod("default", pod, dry_run="All")
    except client.ApiException as exc:
        assert exc.status == 422, exc.body
        return str(exc.body)
    return None


@pytest.mark.parametrize(("written", "field", "fields"), CASES, ids=[c[0] for c in CASES])
def test_mlcp_refuses_the_step_and_the_api_server_its_pod(
    tmp_path: Path, k8s_admin: client.ApiClient, written: str, field: str, fields: dict[str, Any]
) -> None:
    repo = copy_template(tmp_path / "repo")
    edit(repo, TRAIN, "  steps:\n", VOLUMES)
    path = edit(repo, TRAIN, ANCHOR, f"{ANCHOR}      {written}\n")
    found = [d for d in problems(repo) if d.path == TRAIN]
    assert [d.line for d in found] == [line_of(path, written)], [d.render() for d in found]

    step = spec.Step.model_construct(**spec.Step(name="evaluate", image="busybox").__dict__ | fields)
    refusal = _refusal(k8s_admin, _pod(step))
    assert refusal is not None, f"the API server takes a pod with {written}: mlcp need not refuse it"
    assert field in refusal, refusal


def test_the_pod_of_a_step_using_every_such_field_well_is_accepted(k8s_admin: client.ApiClient) -> None:
    step = spec.Step(
        name="evaluate",
        image="busybox",
        env={"BATCH_SIZE": "8", "my.setting-1": "x"},
        env_from=[spec.EnvFrom(name="HF_TOKEN", secret=spec.KeyRef(name="c", key="k"))],
        volume_mounts=[spec.VolumeMount(volume="scratch", mount_path="/s", sub_path="runs/..x/a")],
        node_selector={"mlcp.dev/pool": "gpu", "node.kubernetes.io/instance-type": ""},
        tolerations=[
            spec.Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),
            spec.Toleration(key="dedicated", value="ml-team"),
        ],
        affinity=spec.NodeAffinity(
            required=[spec.NodeRequirement(key="gpu.example.com/memory", operator="Gt", values=["08"])],
            preferred=[
                spec.PreferredNodes(weight=5, match=[spec.NodeRequirement(key="zone", operator="NotIn", values=["a"])])
            ],
        ),
    )
    assert _refusal(k8s_admin, _pod(step)) is None
