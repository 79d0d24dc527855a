"""Where a step's pod may run: off the cluster's own nodes, however it is written, and only as the API server takes it.

Written as a tenant committer would try it: an empty key (Kubernetes reads it as none), a preferred rather than a
required affinity, a node pinned by name, and a `{{...}}` Argo substitutes after every check, with a parameter whose
default is the control plane's label. Then the fields the API server refuses at every run's pod.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controlplane import training_steps
from tests.controlplane.helpers import assert_problem, edit, line_of, problems, write

TRAIN = "tenants/vision/pipelines/train-detector.yaml"
ANCHOR = "      dependsOn: [train]\n"
"""The evaluate step's last line: what a test adds goes after it, into that step."""


def _add(repo: Path, lines: str) -> Path:
    return edit(repo, TRAIN, ANCHOR, ANCHOR + lines)


@pytest.mark.parametrize(
    ("placement", "needle", "message"),
    [
        ('tolerations: [{key: "", operator: Exists}]', "tolerations:", "tolerates every taint"),
        ('tolerations: [{key: "", operator: Exists, effect: NoExecute}]', "tolerations:", "tolerates every taint"),
        ("tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists}]", "tolerations:", "is the cluster's"),
        (
            "tolerations: [{key: node.cloudprovider.kubernetes.io/uninitialized, operator: Exists}]",
            "tolerations:",
            "is the cluster's",
        ),
        (
            "affinity: {preferred: [{weight: 100, match: [{key: node-role.kubernetes.io/control-plane, "
            "operator: Exists}]}]}",
            "affinity:",
            "is the cluster's",
        ),
        ("nodeSelector: {kubernetes.io/hostname: cp-1}", "nodeSelector:", "names a single node"),
        (
            "affinity: {required: [{key: kubernetes.io/hostname, operator: In, values: [cp-1]}]}",
            "affinity:",
            "names a single node",
        ),
    ],
    ids=["empty-key", "empty-key-noexecute", "not-ready", "uninitialized", "preferred", "hostname", "hostname-in"],
)
def test_no_way_of_writing_it_places_a_step_on_the_clusters_own_nodes(
    repo: Path, placement: str, needle: str, message: str
) -> None:
    path = _add(repo, f"      {placement}\n")
    found = assert_problem(repo, TRAIN, line_of(path, needle), message)
    assert found.code == "placement"


@pytest.mark.parametrize(
    "placement",
    [
        'tolerations: [{key: "{{workflow.parameters.t}}", operator: Exists}]',
        'tolerations: [{key: gpu, value: "{{workflow.parameters.t}}"}]',
        'nodeSelector: {"{{workflow.parameters.t}}": ""}',
        'nodeSelector: {pool: "{{workflow.parameters.t}}"}',
        'affinity: {required: [{key: "{{workflow.parameters.t}}", operator: Exists}]}',
        "affinity: {preferred: [{weight: 1, match: [{key: pool, operator: In, "
        'values: ["{{workflow.parameters.t}}"]}]}]}',
    ],
    ids=["toleration-key", "toleration-value", "selector-key", "selector-value", "required", "preferred"],
)
def test_a_run_parameter_never_chooses_where_a_step_runs(repo: Path, placement: str) -> None:
    """The parameter's default is the control plane's label, which the literal key rule refuses; substituted by Argo
    when the run starts, it would be checked by nothing."""
    edit(
        repo, TRAIN, "  parameters:\n", "  parameters:\n    - {name: t, value: node-role.kubernetes.io/control-plane}\n"
    )
    path = _add(repo, f"      {placement}\n")
    found = assert_problem(repo, TRAIN, line_of(path, placement.split(":", 1)[0] + ":"), "takes no `{{...}}`")
    assert found.code == "placement"


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ('nodeSelector: {"not a key!": gpu}', "node label key 'not a key!' is invalid"),
        ("nodeSelector: {Example.COM/pool: gpu}", "has an invalid prefix"),
        ('nodeSelector: {pool: "not a value!"}', "node selector value 'not a value!' is not a valid label value"),
        ('tolerations: [{key: "bad key!", operator: Exists}]', "taint key 'bad key!' is invalid"),
        ("tolerations: [{key: gpu, operator: Exists, value: yes-please}]", "operator Exists takes no value"),
        ('tolerations: [{key: gpu, value: "a b"}]', "taint value 'a b' is not a valid label value"),
        ("tolerations: [{operator: Equal}]", "tolerates every taint"),
        ("affinity: {required: [{key: pool, operator: In}]}", "operator In needs `values`"),
        ("affinity: {required: [{key: pool, operator: NotIn, values: ['a b']}]}", "is not a valid label value"),
        ("affinity: {required: [{key: pool, operator: Exists, values: [a]}]}", "operator Exists takes no `values`"),
        ("affinity: {required: [{key: pool, operator: Gt, values: [ten]}]}", "exactly one whole number"),
        ("affinity: {required: [{key: pool, operator: Lt, values: ['1', '2']}]}", "exactly one whole number"),
        ("affinity: {required: [{key: pool, operator: Gt, values: ['1_000']}]}", "exactly one whole number"),
        ("affinity: {required: [{key: pool, operator: Gt, values: ['9223372036854775808']}]}", "whole number"),
        ("affinity: {required: [{key: pool, operator: Lt, values: ['-1']}]}", "'-1' is not a valid label value"),
        ("affinity: {preferred: [{weight: 5, match: [{key: 'a b', operator: Exists}]}]}", "'a b' is invalid"),
    ],
)
def test_placement_the_api_server_or_the_scheduler_refuses_is_refused(repo: Path, placement: str, message: str) -> None:
    path = _add(repo, f"      {placement}\n")
    found = assert_problem(repo, TRAIN, line_of(path, placement.split(":", 1)[0] + ":"), message)
    assert found.hint, "says how to fix it"


def test_well_formed_placement_on_a_pool_passes(repo: Path) -> None:
    _add(
        repo,
        "      nodeSelector: {mlcp.dev/pool: gpu, node.kubernetes.io/instance-type: g5.xlarge}\n"
        "      tolerations:\n"
        "        - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}\n"
        "        - {key: dedicated, value: ml-team}\n"
        "      affinity:\n"
        "        required:\n"
        "          - {key: gpu.example.com/memory, operator: Gt, values: ['08']}\n"
        "          - {key: topology.kubernetes.io/zone, operator: NotIn, values: [eu-west-1c]}\n"
        "        preferred:\n"
        "          - {weight: 10, match: [{key: gpu.example.com/model, operator: DoesNotExist}]}\n",
    )
    assert problems(repo) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", '"{{workflow.parameters.nope}}"'),
        ("volumeMounts", '[{volume: scratch, mountPath: "/s", subPath: "{{inputs.parameters.nope}}"}]'),
        ("retry", '{limit: 1, backoff: {duration: "{{workflow.parameters.nope}}"}}'),
        ("envFrom", '[{name: T, secret: {name: creds, key: "{{workflow.parameters.nope}}"}}]'),
        ("outputs", '{parameters: [{name: o, path: "/tmp/{{workflow.parameters.nope}}"}]}'),
    ],
)
def test_a_reference_anywhere_in_a_steps_template_is_resolved(repo: Path, field: str, value: str) -> None:
    """Argo resolves `{{...}}` in the template's whole JSON, and refuses a run whose tag it cannot resolve."""
    edit(repo, TRAIN, "  steps:\n", "  volumes:\n    - {name: scratch, emptyDir: {}}\n  steps:\n")
    path = _add(repo, f"      {field}: {value}\n")
    found = [d for d in problems(repo) if d.path == TRAIN and "cannot be resolved" in d.message]
    assert [d.line for d in found] == [line_of(path, "nope")], [d.render() for d in problems(repo)]


def test_a_reference_in_the_workflows_artifact_repository_is_resolved_with_the_workflows_parameters(
    repo: Path,
) -> None:
    """Argo substitutes the workflow's parameters in its spec-level fields too (volumes, whose fields are all typed
    values that take no `{{...}}`, and the artifact repository's key)."""
    repository = '  artifactRepository: {key: "{{workflow.parameters.store}}"}\n  steps:\n'
    path = edit(repo, TRAIN, "  steps:\n", repository)
    assert_problem(repo, TRAIN, line_of(path, "artifactRepository"), "no parameter 'store'")
    edit(repo, TRAIN, "  parameters:\n", '  parameters:\n    - {name: store, value: "fast"}\n')
    assert [d for d in problems(repo) if "store" in d.message] == []


def test_a_declared_reference_in_a_timeout_passes(repo: Path) -> None:
    edit(repo, TRAIN, "  parameters:\n", '  parameters:\n    - {name: limit, value: "30m"}\n')
    _add(repo, '      timeout: "{{workflow.parameters.limit}}"\n')
    assert problems(repo) == []


def test_a_reference_in_a_training_steps_timeout_is_resolved(repo: Path) -> None:
    text = training_steps.PIPELINE.replace("      timeout: 12h\n", '      timeout: "{{workflow.parameters.limit}}"\n')
    path = write(repo, training_steps.PATH, text)
    assert_problem(repo, training_steps.PATH, line_of(path, "timeout:"), "no parameter 'limit'")
