"""A container step's pod as the API server completes and checks it: LimitRange defaults, min and max, requests
within limits, extended resources limited, the Quota (the template's vision tenant: default cpu 1 and memory 1Gi,
quota of 32 CPUs and 4 GPUs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controlplane.helpers import assert_problem, edit, line_of, problems, write

PATH = "tenants/vision/pipelines/sized.yaml"
QUOTA = "tenants/vision/quota.yaml"


def _pipeline(resources: str, on_exit: bool = False) -> str:
    step = f"      resources: {resources}\n" if resources else ""
    text = (
        "apiVersion: mlcp.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: sized\nspec:\n  steps:\n"
        "    - name: work\n      image: ghcr.io/example/work:1.0\n"
    )
    if on_exit:
        return text + "  onExit:\n    name: notify\n    image: ghcr.io/example/notify:1.0\n" + step.replace("  ", "", 1)
    return text + step


@pytest.mark.parametrize(
    "resources",
    [
        "",  # the LimitRange fills both
        '{requests: {cpu: "1"}}',  # the default limit 1 holds it
        '{limits: {cpu: "4", memory: 8Gi}}',  # a limit alone is also the request
        '{limits: {nvidia.com/gpu: "1"}}',  # so for a GPU
        '{requests: {nvidia.com/gpu: "1", cpu: 500m}, limits: {nvidia.com/gpu: "1"}}',
        '{requests: {cpu: "2"}, limits: {cpu: "2"}}',
        '{requests: {example.com/fpga: "1"}, limits: {example.com/fpga: "1"}}',
    ],
)
def test_pods_the_api_server_admits_pass(repo: Path, resources: str) -> None:
    write(repo, PATH, _pipeline(resources))
    assert problems(repo) == []


@pytest.mark.parametrize(
    ("resources", "needle", "message"),
    [
        ('{requests: {cpu: "2"}}', "cpu", "requests cpu 2, above the limit 1 the tenant's quota 'compute' gives"),
        ("{requests: {memory: 2Gi}, limits: {memory: 1Gi}}", "memory: 2Gi", "requests memory 2Gi, above its limit 1Gi"),
        ('{requests: {nvidia.com/gpu: "1"}}', "gpu", "requests nvidia.com/gpu 1 without a limit of it"),
        (
            '{requests: {nvidia.com/gpu: "1"}, limits: {nvidia.com/gpu: "2"}}',
            "gpu",
            "requests nvidia.com/gpu 1 and limits it to 2: the API server refuses",
        ),
        ('{limits: {nvidia.com/gpu: "5"}}', "gpu", "needs nvidia.com/gpu 5, more than the tenant's quota 'compute'"),
        ('{requests: {cpu: "40"}, limits: {cpu: "40"}}', "cpu", "allows (requests.cpu: 32)"),
        ("{limits: {memory: 300Gi}}", "memory", "allows (limits.memory: 256Gi)"),
    ],
)
def test_pods_the_api_server_refuses_are_refused_at_the_field(
    repo: Path, resources: str, needle: str, message: str
) -> None:
    path = write(repo, PATH, _pipeline(resources))
    found = problems(repo)
    assert [d for d in found if d.line == line_of(path, needle) and message in d.message], "\n".join(
        d.render() for d in found
    )


def test_the_limit_ranges_max_and_min_bound_a_steps_limit_and_request(repo: Path) -> None:
    edit(repo, QUOTA, "  limitRange:\n", "  limitRange:\n    max: {memory: 64Gi}\n    min: {cpu: 100m}\n")
    path = write(repo, PATH, _pipeline('{requests: {cpu: 50m}, limits: {memory: 80Gi, cpu: "1"}}'))
    found = problems(repo)
    rendered = "\n".join(d.render() for d in found)
    assert len(found) == 2, rendered
    assert any(d.line == line_of(path, "memory: 80Gi") and "above the most" in d.message for d in found), rendered
    assert any(d.line == line_of(path, "cpu: 50m") and "below the least" in d.message for d in found), rendered


def test_the_exit_handlers_pod_is_checked_too(repo: Path) -> None:
    path = write(repo, PATH, _pipeline('{requests: {cpu: "2"}}', on_exit=True))
    assert_problem(repo, PATH, line_of(path, "requests"), "the exit handler requests cpu 2, above the limit 1")


@pytest.mark.parametrize(
    ("bounds", "needle", "message"),
    [
        ("min: {cpu: 200m}", "min: {cpu: 200m}", "the min of cpu (200m) is above its default request (100m)"),
        ("max: {memory: 512Mi}", "max: {memory: 512Mi}", "the default limit of memory (1Gi) is above its max (512Mi)"),
    ],
)
def test_a_limit_range_the_api_server_refuses_is_refused_at_its_line(
    repo: Path, bounds: str, needle: str, message: str
) -> None:
    """vision's LimitRange defaults requests to 100m CPU and limits to 1 CPU and 1Gi: a min or max across them is
    a LimitRange the API server refuses at apply, after the tenant's other objects were written."""
    path = edit(repo, QUOTA, "  limitRange:\n", f"  limitRange:\n    {bounds}\n")
    found = problems(repo)
    assert [d for d in found if d.path == QUOTA and d.line == line_of(path, needle) and message in d.message], (
        "\n".join(d.render() for d in found)
    )


def test_a_max_alone_is_the_default_limit(repo: Path) -> None:
    """The API server fills a missing default from max: ephemeral-storage limited to 2Gi is also its default."""
    edit(repo, QUOTA, "  limitRange:\n", "  limitRange:\n    max: {ephemeral-storage: 2Gi}\n")
    assert problems(repo) == []
