"""Pipelines checked by Argo's rules: the golden corpus's verdicts, and where each problem points."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from controlplane import pipeline_refs
from tests.controlplane import corpus
from tests.controlplane.helpers import assert_problem, edit, line_of, problems, write

TRAIN = "tenants/vision/pipelines/train-detector.yaml"
TOO_MANY = "{} steps: Argo's CRD allows 200 templates in a workflow, one per step, one for the DAG, so at most 199"
RING = "apiVersion: mlcp.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: ring}\nspec:\n  steps:\n"
CASES = corpus.cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_mlcps_verdict_on_the_golden_corpus(repo: Path, case: corpus.Case) -> None:
    rel = f"tenants/vision/pipelines/{case.name}.yaml"
    write(repo, rel, case.text)
    found = problems(repo)
    if case.valid:
        assert found == [], "\n".join(d.render() for d in found)
    else:
        assert case.message is not None
        assert [d for d in found if d.path == rel and case.message in d.message], (
            f"expected {case.message!r}, got:\n" + "\n".join(d.render() for d in found)
        )


def test_the_corpus_covers_both_verdicts_and_every_gate() -> None:
    assert {c.valid for c in CASES} == {True, False}
    assert {c.gate for c in CASES if not c.valid} == {"crd", "controller", "cron", "pod", "none"}


def test_an_undefined_parameter_points_at_the_argument(repo: Path) -> None:
    path = edit(
        repo, TRAIN, '"--epochs", "{{workflow.parameters.epochs}}"', '"--epochs", "{{workflow.parameters.epoch}}"'
    )
    found = assert_problem(repo, TRAIN, line_of(path, "workflow.parameters.epoch}}"), "no parameter 'epoch'")
    assert found.code == "reference"


def test_a_default_outside_enum_points_at_the_value(repo: Path) -> None:
    path = edit(repo, TRAIN, '      value: "20"\n', '      value: "20"\n      enum: ["10", "30"]\n')
    found = assert_problem(repo, TRAIN, line_of(path, 'value: "20"'), "default '20' of parameter 'epochs'")
    assert found.hint == "use one of: 10, 30"


def test_a_scheduled_value_fills_a_parameter_without_default(repo: Path) -> None:
    edit(repo, TRAIN, '      value: "20"\n', "")
    assert "parameter 'epochs' has no value" in problems(repo)[0].message
    edit(
        repo, TRAIN, "    concurrencyPolicy: Forbid\n", '    concurrencyPolicy: Forbid\n    parameters: {epochs: "5"}\n'
    )
    assert problems(repo) == []


def test_a_scheduled_value_must_name_a_parameter(repo: Path) -> None:
    path = edit(
        repo, TRAIN, "    concurrencyPolicy: Forbid\n", '    concurrencyPolicy: Forbid\n    parameters: {epoch: "5"}\n'
    )
    assert_problem(repo, TRAIN, line_of(path, "epoch:"), "schedule sets 'epoch', which the pipeline does not declare")


def test_one_of_several_crons_is_pointed_at(repo: Path) -> None:
    path = edit(repo, TRAIN, 'cron: "0 2 * * *"', 'cron: ["0 2 * * *", "0 6 * * SUN"]')
    found = assert_problem(repo, TRAIN, line_of(path, "cron:"), "invalid cron expression '0 6 * * SUN'")
    assert found.column > 11, "the second item, not the field"


def test_an_unscheduled_parameter_may_be_left_to_the_run(repo: Path) -> None:
    edit(repo, TRAIN, '      value: "20"\n', "")
    edit(repo, TRAIN, '    cron: "0 2 * * *"\n    timezone: Europe/Berlin\n    concurrencyPolicy: Forbid\n', "")
    edit(repo, TRAIN, "  schedule:\n", "")
    assert problems(repo) == []


def test_a_mount_of_an_undeclared_volume_is_refused(repo: Path) -> None:
    path = edit(
        repo,
        TRAIN,
        "      dependsOn: [train]\n",
        "      dependsOn: [train]\n      volumeMounts: [{volume: data, mountPath: /d}]\n",
    )
    assert_problem(repo, TRAIN, line_of(path, "volume: data"), "no volume 'data' in this pipeline")


@pytest.mark.parametrize(
    ("sub_path", "message"),
    [("../../etc", "must stay inside the volume"), ("a/../..", "must stay inside the volume"), ("/etc", "relative")],
)
def test_a_sub_path_leaving_the_volume_is_refused(repo: Path, sub_path: str, message: str) -> None:
    """The API server refuses the pod (`validateLocalDescendingPath`): every run of the step would fail."""
    edit(repo, TRAIN, "  steps:\n", "  volumes:\n    - {name: scratch, emptyDir: {}}\n  steps:\n")
    mount = f"      volumeMounts: [{{volume: scratch, mountPath: /s, subPath: '{sub_path}'}}]\n"
    path = edit(repo, TRAIN, "      dependsOn: [train]\n", "      dependsOn: [train]\n" + mount)
    assert_problem(repo, TRAIN, line_of(path, "subPath"), message)


def test_a_sub_path_within_the_volume_passes(repo: Path) -> None:
    edit(repo, TRAIN, "  steps:\n", "  volumes:\n    - {name: scratch, emptyDir: {}}\n  steps:\n")
    mount = "      volumeMounts: [{volume: scratch, mountPath: /s, subPath: 'runs/..x/./a..b'}]\n"
    edit(repo, TRAIN, "      dependsOn: [train]\n", "      dependsOn: [train]\n" + mount)
    assert problems(repo) == []


def test_a_secret_of_mlcps_own_is_refused(repo: Path) -> None:
    new = "      dependsOn: [train]\n      envFrom: [{name: T, secret: {name: mlcp-deployer-token, key: token}}]\n"
    path = edit(repo, TRAIN, "      dependsOn: [train]\n", new)
    found = assert_problem(repo, TRAIN, line_of(path, "envFrom:"), "'mlcp-deployer-token' is mlcp's own")
    assert found.code == "env"


def test_a_long_chain_of_steps_is_checked_without_exhausting_the_stack(repo: Path) -> None:
    steps = ["    - {name: s0, image: busybox}"]
    steps += [
        f'    - {{name: s{i}, image: busybox, dependsOn: [s{i - 1}], when: "{{{{tasks.s0.status}}}} == Succeeded"}}'
        for i in range(1, 1200)
    ]
    header = "apiVersion: mlcp.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: chain\nspec:\n  steps:\n"
    write(repo, "tenants/vision/pipelines/chain.yaml", header + "\n".join(steps) + "\n")
    assert [d.message for d in problems(repo)] == [TOO_MANY.format(1200)]  # and no RecursionError on the way


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ("tolerations: [{operator: Exists}]", "tolerates every taint"),
        ("tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists}]", "is the cluster's"),
        ("tolerations: [{key: node.kubernetes.io/unschedulable, operator: Exists}]", "is the cluster's"),
        ('nodeSelector: {node-role.kubernetes.io/control-plane: ""}', "is the cluster's"),
        ("affinity: {required: [{key: node-role.kubernetes.io/control-plane, operator: Exists}]}", "is the cluster's"),
    ],
)
def test_a_step_cannot_place_itself_on_the_control_plane_or_cordoned_nodes(
    repo: Path, placement: str, message: str
) -> None:
    path = edit(repo, TRAIN, "      dependsOn: [train]\n", f"      dependsOn: [train]\n      {placement}\n")
    found = assert_problem(repo, TRAIN, line_of(path, placement.split(":", maxsplit=1)[0] + ":"), message)
    assert found.code == "placement"


def test_a_step_may_tolerate_and_select_its_gpu_pool(repo: Path) -> None:
    pool = "      nodeSelector: {mlcp.dev/pool: gpu}\n      tolerations: [{key: nvidia.com/gpu, operator: Exists}]\n"
    edit(repo, TRAIN, "      dependsOn: [train]\n", "      dependsOn: [train]\n" + pool)
    assert problems(repo) == []


def test_an_undefined_parameter_hint_says_where_to_declare_it(repo: Path) -> None:
    edit(repo, TRAIN, '"{{workflow.parameters.epochs}}"', '"{{workflow.parameters.epoch}}"')
    assert problems(repo)[0].hint == "declare it under spec.parameters, or fix the name"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    - name: epochs\n", '    - name: "extra\\n"\n      value: "1"\n    - name: epochs\n', "name 'extra\\n'"),
        ("    - name: evaluate\n", '    - name: "evaluate\\n"\n', "evaluate"),
        ("command: [python, -m, evaluate]", 'command: [python, -m, evaluate]\n      timeout: "30s\\n"', "'30s\\n'"),
    ],
    ids=["parameter-name", "step-name", "duration"],
)
def test_a_trailing_newline_is_refused_where_a_whole_value_is_checked(
    repo: Path, old: str, new: str, message: str
) -> None:
    edit(repo, TRAIN, old, new)  # `$` under re.match accepts one before the end; Argo's Go regexps do not
    assert [d for d in problems(repo) if d.path == TRAIN and message in d.message], problems(repo)


@pytest.mark.parametrize("value", ["s", ".m", "h", "1d"])
def test_a_timeout_go_cannot_parse_is_refused(repo: Path, value: str) -> None:
    path = edit(
        repo, TRAIN, "command: [python, -m, evaluate]", f"command: [python, -m, evaluate]\n      timeout: {value}"
    )
    assert_problem(repo, TRAIN, line_of(path, "timeout:"), f"{value!r} is not a duration")


@pytest.mark.parametrize(("value", "valid"), [("30", True), ("9223372036", True), ("9223372037", False), ("²", False)])
def test_a_backoff_in_whole_seconds_is_ascii_digits_within_gos_range(repo: Path, value: str, valid: bool) -> None:
    retry = f'      retry: {{limit: 2, backoff: {{duration: "{value}"}}}}'
    edit(repo, TRAIN, "command: [python, -m, evaluate]", f"command: [python, -m, evaluate]\n{retry}")
    found = problems(repo)
    if valid:
        assert found == [], [d.render() for d in found]
    else:
        assert_problem(repo, TRAIN, 35, f"{value!r} is not a duration")


def test_an_image_argo_substitutes_is_checked_once_resolved(repo: Path) -> None:
    edit(repo, TRAIN, "    - name: epochs\n", '    - name: image\n      value: "busybox"\n    - name: epochs\n')
    edit(
        repo,
        TRAIN,
        "      image: ghcr.io/example/vision-train:2.1.0\n      command: [python, -m, evaluate]",
        '      image: "{{workflow.parameters.image}}"\n      command: [python, -m, evaluate]',
    )
    assert problems(repo) == []


def test_a_long_chain_of_steps_is_judged_in_one_walk(repo: Path) -> None:
    """Each step's ancestors were a set built per step, and each ancestor's status named in its scope: a 9,000-step
    chain of `when`s on the first step's status (736 KB, within every load budget) took 80 s to validate, in the
    loop's pass too. 6,000 steps took 35 s; one walk of the graph takes about one."""
    lines = ["apiVersion: mlcp.dev/v1alpha1", "kind: Pipeline", "metadata: {name: chain}", "spec:", "  steps:"]
    lines.append("  - {name: s0, image: busybox}")
    when = '"{{tasks.s0.status}} == Succeeded"'
    lines += [f"  - {{name: s{i}, image: busybox, dependsOn: [s{i - 1}], when: {when}}}" for i in range(1, 6000)]
    write(repo, "tenants/vision/pipelines/chain.yaml", "\n".join(lines) + "\n")
    started = time.monotonic()
    found = sorted(d.message for d in problems(repo))  # every other check ran, and passed (or measured its size)
    assert found[0] == TOO_MANY.format(6000) and "Argo keeps it twice in every run" in found[1]  # 1.9 MB rendered
    assert time.monotonic() - started < 15


def test_ancestry_follows_every_path_and_stops_at_a_cycle() -> None:
    ancestry = pipeline_refs.Ancestry({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "x": ["y"], "y": ["x"]})
    assert ancestry.has("d", "a") and ancestry.has("d", "c") and not ancestry.has("a", "d")
    assert not ancestry.has("b", "c") and not ancestry.has("d", "nowhere")
    assert ancestry.has("x", "y")  # a cycle (reported by the graph check) is walked once, not forever


def test_a_long_cycle_is_named_by_its_first_steps(repo: Path) -> None:
    steps = "".join(f"  - {{name: s{i}, image: busybox, dependsOn: [s{(i + 1) % 500}]}}\n" for i in range(500))
    write(repo, "tenants/vision/pipelines/ring.yaml", f"{RING}{steps}")
    found = [d for d in problems(repo) if "cycle" in d.message]
    assert len(found) == 1 and "... (500 steps)" in found[0].message and len(found[0].message) < 200


def test_steps_are_counted_as_argos_crd_counts_templates(repo: Path) -> None:
    """The full CRD holds at most 200 templates: the DAG's, one per step and the exit handler's (the corpus case
    i-two-hundred-steps is refused by the real API server)."""
    steps = "".join(f"  - {{name: s{i}, image: busybox}}\n" for i in range(199))
    write(repo, "tenants/vision/pipelines/wide.yaml", f"{RING.replace('ring', 'wide')}{steps}")
    assert problems(repo) == []
    exit_handler = "  onExit: {name: done, image: busybox}\n"
    path = write(
        repo,
        "tenants/vision/pipelines/wide.yaml",
        f"{RING.replace('ring', 'wide')}{exit_handler}  steps:\n{steps}".replace(
            "spec:\n  steps:\n  onExit", "spec:\n  onExit"
        ),
    )
    found = assert_problem(repo, "tenants/vision/pipelines/wide.yaml", line_of(path, "- {name: s0,"), "at most 198")
    assert "withItems" in found.hint


def test_a_step_takes_at_most_500_parameters(repo: Path) -> None:
    params = ", ".join(f"{{name: p{i}, value: x}}" for i in range(501))
    path = write(
        repo,
        "tenants/vision/pipelines/many.yaml",
        f"{RING.replace('ring', 'many')}  - {{name: s, image: busybox, parameters: [{params}]}}\n",
    )
    assert_problem(repo, "tenants/vision/pipelines/many.yaml", line_of(path, "parameters:"), "takes 501 parameters")
