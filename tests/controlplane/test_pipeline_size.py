"""A pipeline whose runs Argo's controller cannot keep is refused at validate, measured on what mlcp renders.

The sizes are the real controller's (tests/integration/test_pipeline_size.py): a 525 KB template spec failed
every run ("workflow is longer than maximum allowed size"), a 503 KB one ran; a step with a 140 KB inline script
failed ("configmaps is forbidden"), one with 120 KB ran.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import cast

import pytest

from controlplane import pipeline_size
from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext
from controlplane.rendering.pipeline import render_pipeline
from controlplane.specs import Pipeline
from tests.controlplane import corpus
from tests.controlplane.helpers import assert_problem, line_of, problems, write

REL = "tenants/vision/pipelines/big.yaml"


def scripted(name: str, script_bytes: int, steps: int = 10) -> str:
    """What a member writes: each step's script inline in its arguments."""
    script = "echo " + "x" * (script_bytes // steps - 200)
    body = "".join(
        f"    - name: s{i}\n      image: busybox\n      command: [sh, -c]\n      args: ['{script}']\n"
        for i in range(steps)
    )
    return f"apiVersion: mlcp.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: {name}\nspec:\n  steps:\n{body}"


def test_a_pipeline_whose_runs_argo_cannot_keep_is_refused_at_its_spec(repo: Path) -> None:
    write(repo, REL, scripted("big", 525 * 1024))
    found = assert_problem(repo, REL, 6, "Argo keeps it twice in every run")
    assert "at most 507,904" in found.message and "into the image" in found.hint
    assert found.code == "size"


def test_a_pipeline_whose_runs_argo_ran_is_accepted(repo: Path) -> None:
    write(repo, REL, scripted("big", 490 * 1024))
    assert problems(repo) == []


def test_parameters_count_as_rendered_twice(repo: Path) -> None:
    """A step's parameter is written as the template's input and as the task's argument: 430 KB of names in the
    file render past the budget."""
    params = "".join(f"        - {{name: {'p' * 190}{j:05d}, value: v}}\n" for j in range(500))
    steps = "".join(f"    - name: s{i}\n      image: busybox\n      parameters:\n{params}" for i in range(4))
    text = f"apiVersion: mlcp.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: big\nspec:\n  steps:\n{steps}"
    assert len(text) < 450 * 1024
    write(repo, REL, text)
    assert_problem(repo, REL, 6, "Argo keeps it twice in every run")


def test_go_json_size_counts_what_gos_encoder_escapes() -> None:
    assert pipeline_size.go_json_size({"a": "<&>"}) == len('{"a":"\\u003c\\u0026\\u003e"}')
    assert pipeline_size.go_json_size(["é", "\u2028"]) == len('["é","\\u2028"]'.encode())


@pytest.mark.parametrize(
    "text",
    [c.text for c in corpus.cases() if c.valid]
    + [
        scripted("scripted", 100 * 1024),
        scripted("escaped", 50 * 1024).replace("xxxx", "<&>é"),
        "apiVersion: mlcp.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: envs}\nspec:\n  steps:\n"
        + "".join(
            f"    - {{name: s{i}, image: busybox, env: {{{', '.join(f'e{j}: v' for j in range(50))}}}}}\n"
            for i in range(50)
        ),
    ],
)
def test_the_cheap_bound_is_never_below_the_rendered_size(repo: Path, text: str) -> None:
    """Validation renders only pipelines whose bounds exceed the budgets: each bound must hold for any spec."""
    name = text.split("name:", 1)[1].split(maxsplit=1)[0].strip("{}")
    write(repo, f"tenants/vision/pipelines/{name}.yaml", text)
    loaded_repo = load_repo(repo)
    ctx = RenderContext(loaded_repo)
    for loaded in loaded_repo.of_kind("Pipeline"):
        pipeline = cast(Pipeline, loaded.spec)
        manifests = [o.manifest for o in render_pipeline(loaded, ctx)]
        assert pipeline_size.rendered_size(manifests) <= pipeline_size._bound(pipeline), pipeline.metadata
        templates = {t["name"]: t for t in manifests[0]["spec"]["templates"]}
        for _, node in pipeline_size._nodes(pipeline):
            assert pipeline_size.template_size(templates[node.name]) <= pipeline_size._step_bound(node), node.name


def test_a_step_whose_template_cannot_reach_its_pod_is_refused_at_the_step(repo: Path) -> None:
    """Above 128 KiB Argo writes ARGO_TEMPLATE to a ConfigMap its own install may not create: the step fails."""
    path = write(repo, REL, scripted("big", 140 * 1024, steps=1))
    found = assert_problem(repo, REL, line_of(path, "- name: s0"), "ARGO_TEMPLATE")
    assert "at most 126,976" in found.message and found.code == "size"


def test_a_step_whose_template_reached_its_pod_is_accepted(repo: Path) -> None:
    write(repo, REL, scripted("big", 120 * 1024, steps=1))
    assert problems(repo) == []


def test_a_largest_pipeline_is_measured_quickly(repo: Path) -> None:
    """Bounded work: the largest file the loader reads (1 MiB) is rendered once."""
    write(repo, REL, scripted("big", 1000 * 1024, steps=199))
    started = time.monotonic()
    found = problems(repo)
    assert time.monotonic() - started < 10
    assert [d.code for d in found] == ["size"], json.dumps([d.render() for d in found])
