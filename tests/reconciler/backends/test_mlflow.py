"""The MLflow backend's writes of experiments and aliases over a network that loses answers.

A retry repeats a write whose first attempt may have been done: the retry then meets that attempt's work
("already exists", "cannot restore an active experiment", "not found"). That is mlcp's own write, and must be
reported as done, or at least as maybe done (`uncertain`, so a create's inventory record is kept), never as
someone else's object or as a write that did not happen.
"""

from __future__ import annotations

from controlplane.plans import Action, Change, ObjectRef, SpecKey
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.mlflow import MlflowBackend
from tests.reconciler.backends.lossy_mlflow import LossyMlflow

EXP = ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "t/exp")
SPEC = SpecKey.parse("Experiment/t/exp")
TAGS = {"mlcp.dev/managed-by": "mlcp", "mlcp.dev/tenant": "t", "mlcp.dev/spec": "Experiment/t/exp"}
ALIAS = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "m@production")


def _create() -> Change:
    return Change(EXP, Action.create, "new", SPEC, "t", "e.yaml", 60, desired={"name": EXP.name, "tags": TAGS})


def test_an_experiment_create_whose_answer_was_lost_is_mlcps_own_not_someone_elses() -> None:
    # before: the retry's RESOURCE_ALREADY_EXISTS said "already exists and mlcp did not create it (no tag …)",
    # a failure that dropped the record of an experiment mlcp had just made
    rest = LossyMlflow("experiments/create")
    outcome = MlflowBackend(rest).apply(_create(), ApplyOptions())
    assert list(rest.experiments) == [EXP.name] and rest.calls["experiments/create"] == 2
    assert outcome.status is Status.applied and outcome.message == "created experiment 1 (its answer was lost; found)"


def test_a_name_taken_by_someone_else_is_still_refused_and_after_a_lost_answer_is_uncertain() -> None:
    rest = LossyMlflow()
    rest.add(EXP.name, {"owner": "mallory"})  # not mlcp's: never adopted silently
    outcome = MlflowBackend(rest).apply(_create(), ApplyOptions())
    assert outcome.status is Status.failed and not outcome.uncertain
    assert "already exists and mlcp did not create it" in outcome.message
    # the create got no answer, and the retry found the name taken without mlcp's tags: either may be true
    rest = LossyMlflow("experiments/create")
    backend = MlflowBackend(rest)
    real = rest._act

    def race(method: str, path: str, body: dict[str, object]) -> dict[str, object]:
        result = real(method, path, body)
        if path == "experiments/create" and rest.calls[path] == 1:
            rest.experiments[EXP.name]["tags"] = []  # someone else's tags on it at once
        return result

    rest._act = race  # type: ignore[method-assign]
    outcome = backend.apply(_create(), ApplyOptions())
    assert outcome.status is Status.failed and outcome.uncertain, "the record ahead is kept: it may be mlcp's"
    assert "got no answer" in outcome.message


def test_an_experiment_tagged_for_mlcp_that_appeared_since_the_plan_is_not_taken_over_at_apply() -> None:
    rest = LossyMlflow()
    rest.add(EXP.name, {"mlcp.dev/managed-by": "mlcp"})  # someone made it, tagged, between the plan and the apply
    outcome = MlflowBackend(rest).apply(_create(), ApplyOptions())
    assert outcome.status is Status.failed and "appeared since the plan" in outcome.message
    assert "the next plan judges whether mlcp may adopt it" in outcome.message and not outcome.uncertain


def test_a_restore_or_a_delete_whose_answer_was_lost_is_done_not_failed() -> None:
    rest = LossyMlflow("experiments/restore", "experiments/delete-experiment-tag")
    rest.add(EXP.name, {**TAGS, "mlcp.dev/managed-tags": "team", "team": "a"}, stage="deleted")
    update = Change(EXP, Action.update, "deleted", SPEC, "t", "e.yaml", 60, desired={"name": EXP.name, "tags": TAGS})
    outcome = MlflowBackend(rest).apply(update, ApplyOptions())
    assert outcome.status is Status.applied, outcome.message
    assert outcome.message == "took over experiment 1; restored; removed tag(s) team", "no record: a take-over"
    assert rest.experiments[EXP.name]["lifecycle_stage"] == "active" and "team" not in rest.tags(EXP.name)

    rest.lose.add("experiments/delete")
    delete = Change(EXP, Action.delete, "removed", SPEC, "t", "e.yaml", 60, live_version="v")
    outcome = MlflowBackend(rest).apply(delete, ApplyOptions())
    assert outcome.status is Status.deleted and rest.experiments[EXP.name]["lifecycle_stage"] == "deleted"


def test_a_create_that_never_got_an_answer_may_have_happened() -> None:
    rest = LossyMlflow("experiments/create", attempts=1)  # the lost answer is the last word
    outcome = MlflowBackend(rest).apply(_create(), ApplyOptions())
    assert outcome.status is Status.failed and outcome.uncertain, "its record ahead is kept"
    assert "may have been done" in outcome.message


def test_an_alias_removal_whose_answer_was_lost_is_a_removal() -> None:
    # before: the retry's "not found" failed the change, saying "the alias was not moved", though it was gone
    rest = LossyMlflow("DELETE registered-models/alias")
    rest.aliases[("m", "production")] = "3"
    rest.model_tags["m"] = {"mlcp.dev/alias.production.version": "3", "team": "a"}
    remove = Change(ALIAS, Action.delete, "removed", SpecKey.parse("ModelPromotion/t/p"), "t", "p.yaml", 65,
                    live_version="3")  # fmt: skip
    outcome = MlflowBackend(rest).apply(remove, ApplyOptions())
    assert outcome.status is Status.deleted, outcome.message
    assert rest.aliases == {} and rest.model_tags["m"] == {"team": "a"}
