"""Comparing a saved plan with a fresh plan of its revision: staleness apart from every other edit."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from controlplane.plans import Action, Change, Decision, FieldDiff, ObjectRef, Plan, SpecKey
from controlplane.saved_plans import compare, first_difference

REF = ObjectRef("kubernetes", "argoproj.io/v1alpha1", "WorkflowTemplate", "vision", "train")
QUOTA = ObjectRef("kubernetes", "v1", "ResourceQuota", "vision", "compute")
DENIED = Decision(False, "default-deny", "no rule lets bob update Quota", ("bob@example.com",))


def _template(image: str) -> dict[str, Any]:
    return {"kind": "WorkflowTemplate", "spec": {"templates": [{"name": "dag"}, {"container": {"image": image}}]}}


def _plan() -> Plan:
    template = Change(
        REF,
        Action.update,
        "1 field differs",
        SpecKey("Pipeline", "vision", "train"),
        "vision",
        "tenants/vision/pipelines/train.yaml",
        50,
        diffs=(FieldDiff(("spec", "image"), "a:1", "a:2"),),
        desired=_template("a:2"),
        live_version="17",
        decision=Decision(True, "tenant-developer", "allowed", ("bob@example.com",)),
    )
    quota = Change(
        QUOTA, Action.update, "raise", SpecKey("Quota", "vision", "compute"), "vision", "tenants/vision/quota.yaml", 40,
        desired={"spec": {"hard": {"gpu": "64"}}}, live_version="9", blocked="denied", decision=DENIED,
    )  # fmt: skip
    return Plan((template, quota), revision="a" * 40, repo="/repo")


def _through_json(plan: Plan) -> Plan:
    """What `mlcp apply` reads back from the file."""
    return Plan.from_dict(json.loads(plan.to_json()))


def test_a_saved_plan_equal_to_the_fresh_one_agrees() -> None:
    assert compare(_through_json(_plan()), _plan()).agrees


def test_a_moved_live_version_that_moved_the_change_is_staleness_not_an_edit() -> None:
    fresh = _plan()
    template = fresh.changes[0]
    edited_live = (FieldDiff(("spec", "image"), "a:0", "a:2"),)  # someone set another image since
    moved = replace(fresh, changes=(replace(template, live_version="18", diffs=edited_live), fresh.changes[1]))
    found = compare(_through_json(_plan()), moved)
    assert found.stale == [f"{REF}: was 17 when planned, now 18"] and found.edited == []


def test_an_object_that_moved_only_where_mlcp_does_not_look_plans_the_same_change_and_agrees() -> None:
    """A ResourceQuota's controller rewrites its status whenever usage changes: a new resourceVersion, the same
    change. Refusing that as stale made a saved plan with a quota change fail at random (seen in CI)."""
    fresh = _plan()
    moved = replace(fresh, changes=(replace(fresh.changes[0], live_version="18"), fresh.changes[1]))
    found = compare(_through_json(_plan()), moved)
    assert found.agrees, (found.stale, found.edited)


def test_a_forged_allowed_decision_is_named_with_the_field() -> None:
    saved = _plan()
    forged = replace(saved.changes[1], decision=replace(DENIED, allowed=True, rule="tenant-developer"), blocked=None)
    found = compare(replace(saved, changes=(saved.changes[0], forged)), _plan())
    assert found.edited == [
        f"{QUOTA}: decision.allowed is True in the saved plan, False now",
        f"{QUOTA}: blocked is None in the saved plan, 'denied' now",
    ]


def test_an_edited_image_names_the_first_place_it_differs() -> None:
    saved = _plan()
    edited = replace(saved.changes[0], desired=_template("evil:1"))
    [found] = compare(replace(saved, changes=(edited, saved.changes[1])), _plan()).edited
    assert found == f"{REF}: desired.spec.templates[1].container.image is 'evil:1' in the saved plan, 'a:2' now"


def test_added_dropped_and_doubled_changes_and_another_revision_are_edits() -> None:
    saved = _plan()
    extra = replace(saved.changes[0], ref=replace(REF, kind="RoleBinding", name="bob-is-admin"), action=Action.create)
    tampered = replace(saved, changes=(saved.changes[0], saved.changes[0], extra), revision="b" * 40, prune=True)
    edited = compare(tampered, _plan()).edited
    assert edited[0].startswith("revision: 'bbbb") and edited[1] == "prune: on in the saved plan, off now (--prune)"
    assert f"{REF}: listed twice in the saved plan" in edited
    assert "RoleBinding/vision/bob-is-admin: create in the saved plan, not planned now" in edited
    assert f"{QUOTA}: update planned now, missing from the saved plan" in edited


def test_first_difference_descends_into_maps_and_equal_length_lists_only() -> None:
    assert first_difference({"a": {"b": 1}}, {"a": {"b": 2}}, "x") == ("x.a.b", 1, 2)
    assert first_difference({"a": 1}, {"a": 1, "b": None}, "x") == ("x.b", None, None)
    assert first_difference([1, 2], [1, 2, 3], "x") == ("x", [1, 2], [1, 2, 3])


def test_spec_keys_are_saved_in_the_readable_form_plans_always_had() -> None:
    """A saved plan keeps `Kind/tenant/name`; a plan saved before keys were typed loads into the same values."""
    saved = json.loads(_plan().to_json())
    assert [c["spec"] for c in saved["changes"]] == ["Pipeline/vision/train", "Quota/vision/compute"]
    assert compare(Plan.from_dict(saved), _plan()).agrees
    assert SpecKey.parse("AccessPolicy/platform") == SpecKey("AccessPolicy", None, "platform")
    assert str(SpecKey.parse("AccessPolicy/policies/allowed_signers")) == "AccessPolicy/policies/allowed_signers"


def test_a_spec_that_is_no_key_is_refused_with_what_a_key_looks_like() -> None:
    saved = json.loads(_plan().to_json())
    saved["changes"][0]["spec"] = "no-slash"
    try:
        Plan.from_dict(saved)
    except ValueError as exc:
        assert "Kind/tenant/name" in str(exc)
    else:
        raise AssertionError("a spec that is no key was accepted")


@pytest.mark.parametrize(
    ("where", "value", "said"),
    [
        (("ref", "name"), ["train"], "changes[0].ref.name is a list, not a string"),
        (("ref", "namespace"), 7, "changes[0].ref.namespace is a number, not a string or null"),
        (("rank",), True, "changes[0].rank is a boolean, not a number"),
        (("decision", "allowed"), "yes", "changes[0].decision.allowed is a string, not a boolean"),
        (("decision", "actors"), "bob@example.com", "changes[0].decision.actors is a string, not a list"),
        (("diffs",), [{"path": [["spec"]], "old": 1, "new": 2}], "changes[0].diffs[0].path[0] is a list, not a string"),
        (("action",), "take-over", "changes[0].action is 'take-over', not one of create, update, delete, no-op"),
        (("desired",), ["a"], "changes[0].desired is a list, not an object or null"),
    ],
)
def test_a_field_of_another_shape_is_refused_naming_it(where: tuple[str, ...], value: Any, said: str) -> None:
    """The file is anyone's to edit: a list as a name (unhashable) or a number as a namespace (unsortable among
    strings) was loaded as is, and comparing it with the fresh plan crashed with a TypeError."""
    saved = json.loads(_plan().to_json())
    target = saved["changes"][0]
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    with pytest.raises(ValueError) as refused:
        Plan.from_dict(saved)
    assert str(refused.value) == said


@pytest.mark.parametrize("document", [[], "plan", {"format": 1, "changes": [None]}, {"format": 1, "prune": "yes"}])
def test_a_document_that_is_no_plan_is_refused(document: Any) -> None:
    with pytest.raises(ValueError):
        Plan.from_dict(document)


def test_a_value_nested_deeper_than_python_compares_is_an_edit() -> None:
    deep: Any = "x"
    for _ in range(100_000):
        deep = [deep]
    saved = _plan()
    edited = replace(saved.changes[0], desired={"kind": "WorkflowTemplate", "spec": deep})
    found = compare(replace(saved, changes=(edited, saved.changes[1])), _plan()).edited
    assert found == [f"{REF}: nested too deeply to compare"]
