"""Tenants own their registry names: each rule, and the ways another tenant would try to get around it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controlplane import registry_names
from controlplane.loading.repo import load_repo
from controlplane.registry_names import model_owner
from controlplane.validation import validate
from reconciler import partition
from tests.controlplane.helpers import assert_problem, edit, line_of, only, problems, write

VISION_PROMOTION = "tenants/vision/promotions/detector-production.yaml"
VISION_EXPERIMENT = "tenants/vision/experiments/detector.yaml"
NLP_PROMOTION = "tenants/nlp/promotions/steal.yaml"
NLP_EXPERIMENT = "tenants/nlp/experiments/steal.yaml"


def promotion(name: str, model: str, alias: str = "production") -> str:
    return f"""
    apiVersion: mlcp.dev/v1alpha1
    kind: ModelPromotion
    metadata:
      name: {name}
    spec:
      model: {model}
      alias: {alias}
      version: 1
    """


def experiment(name: str, tracking_name: str | None) -> str:
    tracking = f"\n      tracking:\n        name: {tracking_name}" if tracking_name else " {}"
    return f"""
    apiVersion: mlcp.dev/v1alpha1
    kind: Experiment
    metadata:
      name: {name}
    spec:{tracking}
    """


def tenant(name: str) -> str:
    return f"""
    apiVersion: mlcp.dev/v1alpha1
    kind: Tenant
    metadata:
      name: {name}
    spec:
      owners: [x@example.com]
    """


def test_another_tenants_model_cannot_be_promoted_and_the_owner_is_not_blamed(repo: Path) -> None:
    # the same model and alias as vision's own promotion, in a file that sorts before vision's: the
    # conflict check must not report vision's spec as the "second" claim and get vision set aside
    path = write(repo, NLP_PROMOTION, promotion("steal", "vision-detector"))
    found = assert_problem(
        repo, NLP_PROMOTION, line_of(path, "model:"), "belongs to tenant 'vision', not to tenant 'nlp'"
    )
    assert found.column == 10 and found.code == "registry-name"
    assert "longest name it equals or starts with, followed by -, _ or ." in found.message
    assert found.hint.startswith("name it nlp-<something>")


def test_another_tenants_experiment_cannot_be_declared_and_the_owner_is_not_blamed(repo: Path) -> None:
    path = write(repo, NLP_EXPERIMENT, experiment("steal", "vision/detector"))
    found = assert_problem(repo, NLP_EXPERIMENT, line_of(path, "name: vision/"), "belongs to tenant 'vision'")
    assert "the tenant named before the first `/`" in found.message
    assert found.hint == "name it nlp/<something>, or leave out tracking.name for nlp/steal"


@pytest.mark.parametrize(
    "tracking_name",
    ["detector", "visionx/detector", "Vision/detector", "/vision/detector", "shared/detector"],
)
def test_an_experiment_name_outside_every_tenant_is_refused(repo: Path, tracking_name: str) -> None:
    edit(repo, VISION_EXPERIMENT, "name: vision/detector", f"name: {tracking_name}")
    assert_problem(repo, VISION_EXPERIMENT, 8, "belongs to no tenant, not to tenant 'vision'")


# `vision/detector`: MLflow refuses a `/` in any model name (specs/test_model_promotion.py)
@pytest.mark.parametrize("model", ["detector", "visiondetector", "Vision-detector", "vision@x"])
def test_a_model_name_owned_by_no_tenant_is_refused(repo: Path, model: str) -> None:
    path = edit(repo, VISION_PROMOTION, "model: vision-detector", f"model: {model}")
    found = assert_problem(repo, VISION_PROMOTION, line_of(path, "model:"), "belongs to no tenant")
    assert found.hint.startswith("name it vision-<something>")


@pytest.mark.parametrize("model", ["vision", "vision-detector", "vision_detector", "vision.detector", "vision-x"])
def test_the_tenants_own_model_names_pass(repo: Path, model: str) -> None:
    edit(repo, VISION_PROMOTION, "model: vision-detector", f"model: {model}")
    assert problems(repo) == []


def test_the_longest_tenant_name_owns_the_model(repo: Path) -> None:
    write(repo, "tenants/vision-x/tenant.yaml", tenant("vision-x"))
    path = edit(repo, VISION_PROMOTION, "model: vision-detector", "model: vision-x-model")
    found = assert_problem(repo, VISION_PROMOTION, line_of(path, "model:"), "belongs to tenant 'vision-x'")
    assert "not starting with vision-x-" in found.hint
    write(repo, "tenants/vision-x/promotions/p.yaml", promotion("p", "vision-x-model"))
    assert [d.path for d in problems(repo)] == [VISION_PROMOTION]  # vision-x's own claim is fine
    edit(repo, VISION_PROMOTION, "model: vision-x-model", "model: vision-xray")
    assert problems(repo) == []  # `r` is no separator: vision-xray is vision's


def test_model_owner_prefers_the_longest_match_and_needs_a_separator() -> None:
    tenants = frozenset({"a", "a-b", "a-b-c"})
    assert model_owner("a-b-c-d", tenants) == "a-b-c"
    assert model_owner("a-b-cd", tenants) == "a-b"
    assert model_owner("a-b", tenants) == "a-b"
    assert model_owner("a.b.c", tenants) == "a"
    assert model_owner("ab", tenants) is None
    assert model_owner("a/b", tenants) is None


def test_a_broken_tenant_keeps_its_names_so_a_neighbour_cannot_take_them(repo: Path) -> None:
    # vision-x's tenant.yaml is invalid, so the loop sets vision-x aside and validates the rest again;
    # vision-x-model must still be vision-x's, or vision could move its alias while vision-x is broken
    write(repo, "tenants/vision-x/tenant.yaml", tenant("vision-x").replace("owners: [x@example.com]", "owners: 3"))
    write(repo, "tenants/vision-x/promotions/p.yaml", promotion("p", "vision-x-model"))
    path = edit(repo, VISION_PROMOTION, "model: vision-detector", "model: vision-x-model")
    line = line_of(path, "model:")
    assert any(d.path == VISION_PROMOTION and d.line == line for d in problems(repo))
    _, broken = partition.isolate(load_repo(repo))
    assert set(broken) == {"vision-x", "vision"}
    assert "belongs to tenant 'vision-x'" in broken["vision"][0].message


def test_a_folder_without_a_tenant_spec_still_owns_its_names(repo: Path) -> None:
    (repo / "tenants/vision-x").mkdir()
    (repo / "tenants/vision-x/README.md").write_text("reserved\n")
    edit(repo, VISION_PROMOTION, "model: vision-detector", "model: vision-x-model")
    assert_problem(repo, VISION_PROMOTION, 7, "belongs to tenant 'vision-x'")


def test_two_promotions_of_one_alias_conflict_and_the_second_names_the_first(repo: Path) -> None:
    path = write(repo, "tenants/vision/promotions/zz-again.yaml", promotion("zz-again", "vision-detector"))
    found = assert_problem(repo, "tenants/vision/promotions/zz-again.yaml", line_of(path, "alias:"), "alias ")
    assert found.message == (
        "alias vision-detector@production is already promoted by ModelPromotion/vision/detector-production"
        f" at {VISION_PROMOTION}:8:10"
    )
    assert found.code == "registry-conflict"
    edit(repo, "tenants/vision/promotions/zz-again.yaml", "alias: production", "alias: staging")
    assert problems(repo) == []  # another alias of the same model is no conflict


def test_two_experiments_with_one_mlflow_name_conflict_default_or_explicit(repo: Path) -> None:
    write(repo, "tenants/vision/experiments/a.yaml", experiment("a", None))  # vision/a by default
    path = write(repo, "tenants/vision/experiments/b.yaml", experiment("b", "vision/a"))
    found = assert_problem(repo, "tenants/vision/experiments/b.yaml", line_of(path, "name: vision/a"), "vision/a")
    first = "Experiment/vision/a at tenants/vision/experiments/a.yaml:4:9"
    assert found.message == f"MLflow experiment 'vision/a' is already declared by {first}"


def test_a_second_claim_in_one_file_is_reported_too(repo: Path) -> None:
    text = promotion("one", "vision-m") + "\n    ---\n" + promotion("two", "vision-m")
    path = write(repo, "tenants/vision/promotions/both.yaml", text)
    second = [n for n, line in enumerate(path.read_text().splitlines(), 1) if "alias:" in line][1]
    found = assert_problem(repo, "tenants/vision/promotions/both.yaml", second, "by ModelPromotion/vision/one at")
    assert found.message.endswith("both.yaml:7:10")


# -- a trusted base decides first: a folder it does not know takes no name from a tenant it knows ------------------

BASE = registry_names.Established(frozenset({"vision", "nlp"}), "b" * 40)
SQUAT_PROMOTION = "tenants/vision-detector/promotions/p.yaml"


def test_a_newcomer_folder_does_not_make_an_established_tenants_model_invalid(repo: Path) -> None:
    # a stranger's tenants/vision-detector/tenant.yaml, nothing else: vision's promotion of its own model
    # `vision-detector` stays valid, so the loop does not set vision aside; the newcomer is the error, since
    # applied it would take the model (names_taken)
    path = write(repo, "tenants/vision-detector/tenant.yaml", tenant("vision-detector"))
    found = only(validate(load_repo(repo), BASE))
    assert (found.path, found.line) == ("tenants/vision-detector/tenant.yaml", line_of(path, "name:"))
    assert found.message.startswith(
        "tenant 'vision-detector' would take registered model 'vision-detector' from tenant 'vision', which "
        f"promotes it at {VISION_PROMOTION}:7:10"
    )
    assert found.hint.startswith("choose a tenant name that no model of tenant 'vision' starts with")
    _, broken = partition.set_aside(load_repo(repo), validate(load_repo(repo), BASE))
    assert set(broken) == {"vision-detector"}


def test_a_newcomer_whose_name_takes_no_promoted_model_is_valid(repo: Path) -> None:
    write(repo, "tenants/vision-x/tenant.yaml", tenant("vision-x"))
    assert validate(load_repo(repo), BASE) == []
    edit(repo, VISION_PROMOTION, "model: vision-detector", "model: vision-x-model")
    assert [d.path for d in validate(load_repo(repo), BASE)] == ["tenants/vision-x/tenant.yaml"]
    assert [d.path for d in validate(load_repo(repo))] == [VISION_PROMOTION], "no base: the folder decides"


def test_without_a_base_the_message_names_the_folder_that_takes_the_name(repo: Path) -> None:
    write(repo, "tenants/vision-detector/tenant.yaml", tenant("vision-detector"))
    found = assert_problem(repo, VISION_PROMOTION, 7, "belongs to tenant 'vision-detector', not to tenant 'vision'")
    assert "if the folder tenants/vision-detector/ is new, it takes this name from tenant 'vision'" in found.message


@pytest.mark.parametrize("model", ["vision-detector", "vision-detector-x", "vision-detector.v2"])
def test_the_newcomers_claim_of_an_established_tenants_name_is_the_error(repo: Path, model: str) -> None:
    edit(repo, VISION_PROMOTION, "model: vision-detector", "model: vision")  # the newcomer's name is free
    write(repo, "tenants/vision-detector/tenant.yaml", tenant("vision-detector"))
    path = write(repo, SQUAT_PROMOTION, promotion("p", model))
    found = only(validate(load_repo(repo), BASE))
    assert (found.path, found.line, found.code) == (SQUAT_PROMOTION, line_of(path, "model:"), "registry-name")
    assert f"registered model {model!r} belongs to tenant 'vision' of the trusted base bbbbbbbbbbbb" in found.message
    assert "not to tenant 'vision-detector', which the trusted base does not know" in found.message
    assert "apply tenant 'vision-detector' (its tenant.yaml) alone first" in found.hint


def test_a_newcomer_owns_the_names_no_tenant_of_the_base_owns(repo: Path) -> None:
    write(repo, "tenants/newteam/tenant.yaml", tenant("newteam"))
    write(repo, "tenants/newteam/promotions/p.yaml", promotion("p", "newteam-model"))
    assert validate(load_repo(repo), BASE) == []


def test_among_the_bases_tenants_the_longest_name_still_owns_the_model(repo: Path) -> None:
    write(repo, "tenants/vision-x/tenant.yaml", tenant("vision-x"))
    path = edit(repo, VISION_PROMOTION, "model: vision-detector", "model: vision-x-model")
    both = registry_names.Established(BASE.tenants | {"vision-x"}, BASE.revision)
    found = only(validate(load_repo(repo), both))
    assert (found.path, found.line) == (VISION_PROMOTION, line_of(path, "model:"))
    assert "belongs to tenant 'vision-x', not to tenant 'vision'" in found.message


def test_an_established_tenant_removed_from_the_revision_keeps_its_names_until_the_base_moves(repo: Path) -> None:
    shutil.rmtree(repo / "tenants/vision")
    write(repo, "tenants/vision-detector/tenant.yaml", tenant("vision-detector"))
    write(repo, SQUAT_PROMOTION, promotion("p", "vision-detector"))
    assert [d.path for d in validate(load_repo(repo), BASE)] == [SQUAT_PROMOTION]  # no promotion of vision's
    assert validate(load_repo(repo)) == []  # without a base, the revision's folders decide
