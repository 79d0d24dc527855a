"""The tuning seam: a tuner registered in this test module, and nowhere in mlcp, is selected by
`tuning.tuner`, renders the experiment's search, and brings its resource to the catalog (apply order, the tenant
deployer's role, mlcp's deploy role); the default stays Katib, and a name no tuner registered is refused with its
file and line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane import deployrbac
from controlplane.loading.repo import load_repo
from controlplane.loading.sources import LoadedSpec
from controlplane.rendering import catalog, experiment, render
from controlplane.rendering.catalog import Resource
from controlplane.rendering.context import RANK_ORDER, RenderContext, metadata
from controlplane.rendering.roles import deployer_rules
from controlplane.specs.experiment import Tuning
from tests.controlplane.helpers import assert_problem, copy_template, edit, line_of, problems

NAME = "probe-search"
SEARCH = Resource(62, "trainer.kubeflow.org", "v1alpha1", "OptimizationJob", "optimizationjobs", namespaced=True)
DETECTOR = "tenants/vision/experiments/detector.yaml"


def probe_search(loaded: LoadedSpec, tuning: Tuning, ctx: RenderContext) -> dict[str, Any]:
    """What a second tuner module would hold: the search in another controller's terms."""
    return {
        "apiVersion": SEARCH.api_version,
        "kind": SEARCH.kind,
        "metadata": metadata(loaded, ctx, loaded.spec.name, ctx.namespace(loaded.tenant)),
        "spec": {
            "objective": {"metric": tuning.objective.metric, "direction": tuning.objective.type},
            "searchSpace": {p.name: p.type for p in tuning.parameters},
            "maxTrials": tuning.max_trials,
        },
    }


@pytest.fixture
def registered() -> Iterator[None]:
    experiment.tuner(NAME, SEARCH)(probe_search)
    try:
        yield
    finally:
        experiment.withdraw(NAME)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = copy_template(tmp_path / "repo")
    edit(root, DETECTOR, "  tuning:\n", f"  tuning:\n    tuner: {NAME}\n")
    return root


def _tuning_objects(root: Path) -> list[dict[str, Any]]:
    objects = render(RenderContext(load_repo(root)))
    return [
        o.manifest
        for o in objects
        if o.spec is not None and o.spec.kind == "Experiment" and o.ref.system == "kubernetes"
    ]


def test_a_tuner_declared_in_a_test_module_renders_the_experiments_that_name_it(registered: None, repo: Path) -> None:
    assert problems(repo) == []
    [search] = _tuning_objects(repo)
    assert (search["apiVersion"], search["kind"]) == ("trainer.kubeflow.org/v1alpha1", "OptimizationJob")
    assert search["metadata"]["namespace"] == "vision" and search["metadata"]["name"] == "detector"
    assert search["spec"]["objective"] == {"metric": "val_map", "direction": "maximize"}
    assert search["spec"]["searchSpace"]["learning-rate"] == "double"


def test_its_resource_reaches_apply_order_the_deployer_role_and_the_deploy_role(registered: None) -> None:
    assert RANK_ORDER["OptimizationJob"] == 62
    assert "optimizationjobs" in {p for rule in deployer_rules() for p in rule["resources"]}
    assert "optimizationjobs" in deployrbac.render()


def test_withdrawn_it_leaves_no_trace_and_katib_keeps_its_own(registered: None) -> None:
    experiment.withdraw(NAME)
    assert NAME not in experiment.TUNERS and "OptimizationJob" not in RANK_ORDER
    assert "optimizationjobs" not in deployrbac.render()
    assert "Experiment" in RANK_ORDER and "experiments" in deployrbac.render(), "Katib's resource stays declared"


def test_a_tuning_that_names_no_tuner_is_katibs(tmp_path: Path) -> None:
    [katib] = _tuning_objects(copy_template(tmp_path / "repo"))
    assert (katib["apiVersion"], katib["kind"]) == ("kubeflow.org/v1beta1", "Experiment")
    assert katib["spec"]["trialTemplate"]["trialSpec"]["kind"] == "Workflow"


def test_a_tuner_nobody_registered_is_refused_at_its_line(repo: Path) -> None:
    found = assert_problem(repo, DETECTOR, line_of(repo / DETECTOR, "tuner:"), f"no tuner {NAME!r}")
    assert "katib" in found.message and "leave `tuner` out" in found.hint


def test_two_tuners_under_one_name_are_refused(registered: None) -> None:
    with pytest.raises(catalog.CatalogError, match="registered twice"):
        experiment.tuner(NAME, SEARCH)(lambda loaded, tuning, ctx: {})
