"""Which revision an apply records as the next trusted base, and when an empty plan must still be applied."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from controlplane.errors import InvalidConfig
from controlplane.plans import Action, Change, Decision, ObjectRef, Plan
from reconciler import governance, nextbase
from tests import deepdirs

BASE, HEAD = "a" * 40, "b" * 40


def _plan(revision: str | None, origin: str = "applied", *changes: Change) -> Plan:
    return Plan(changes=changes, revision=revision, meta={"trustedBase": {"revision": BASE, "origin": origin}})


def _rule_change(blocked: str | None) -> Change:
    ref = ObjectRef(governance.SYSTEM, "mlcp.dev/v1alpha1", "AccessPolicy", None, "platform")
    return Change(ref, Action.update, "differs from the trusted base", None, None, None, 0, blocked=blocked)


def test_an_empty_plan_of_a_newer_revision_advances_the_base() -> None:
    """A revert of a denied commit: nothing to write, but it must become the next judge."""
    assert nextbase.advances(_plan(HEAD))


def test_an_empty_plan_of_the_recorded_revision_does_not() -> None:
    assert not nextbase.advances(_plan(BASE))


def test_an_operator_named_base_is_recorded_even_when_nothing_changes() -> None:
    """Bootstrap: the named revision becomes the applied one, so the flag can be dropped afterwards."""
    assert nextbase.advances(_plan(BASE, "operator"))


def test_a_work_tree_without_a_commit_records_nothing() -> None:
    assert not nextbase.advances(_plan(None))


def test_a_denied_rule_change_keeps_the_base() -> None:
    plan = _plan(HEAD, "applied", _rule_change("denied (default-deny)"))
    assert nextbase.next_base(plan, BASE) == BASE
    assert not nextbase.advances(plan)
    assert nextbase.next_base(_plan(HEAD, "applied", _rule_change(None)), BASE) == HEAD


def _people_change(tenant: str, allowed: bool, action: Action = Action.update) -> Change:
    ref = ObjectRef(governance.SYSTEM, "mlcp.dev/v1alpha1", governance.MEMBERSHIP, None, tenant)
    decision = Decision(allowed, "platform-admin" if allowed else "default-deny", "")
    blocked = None if allowed else "denied (default-deny)"
    return Change(ref, action, "differs", None, tenant, None, 0, blocked=blocked, decision=decision)


def test_a_change_of_people_the_plan_left_out_keeps_the_base() -> None:
    """A pass that planned some tenants: a tenant whose people differ from the base and that it did not plan (not
    selected, or held while backing off) keeps the base, as a denied change would."""
    assert nextbase.next_base(_plan(HEAD), BASE, frozenset({"vision"})) == BASE
    assert nextbase.next_base(_plan(HEAD, "applied", _people_change("nlp", True)), BASE, frozenset({"vision"})) == BASE
    held = replace(_people_change("vision", True), action=Action.noop)  # partition.hold made it a no-op
    assert nextbase.next_base(_plan(HEAD, "applied", held), BASE, frozenset({"vision"})) == BASE


def test_every_change_of_people_planned_and_allowed_moves_the_base() -> None:
    changes = (_people_change("vision", True), _people_change("mine", True, Action.create))
    assert nextbase.next_base(_plan(HEAD, "applied", *changes), BASE, frozenset({"vision", "mine"})) == HEAD
    assert nextbase.next_base(_plan(HEAD), BASE, frozenset()) == HEAD


def test_policy_files_nested_deeper_than_the_stack_are_read_without_recursion(tmp_path: Path) -> None:
    """`rglob` recursed: folders nested a thousand deep under policies/ ended the plan in a RecursionError."""
    (deepdirs.make(tmp_path / "policies") / "notes").write_text("x\n")
    (tmp_path / "policies" / "access.yaml").write_text("kind: AccessPolicy\n")
    with deepdirs.shallow_stack():
        found = list(governance.policy_files(tmp_path))
    assert found == ["policies/access.yaml", f"policies/{'d/' * deepdirs.DEPTH}notes"]


def test_a_policy_file_whose_name_is_not_utf8_refuses_the_revision_showing_its_bytes(tmp_path: Path) -> None:
    """Each file under policies/ is a governance object named by its path; a name in bytes that are not UTF-8
    named one that no JSON encoder writes (the plan, the audit log), a traceback mid-plan."""
    (tmp_path / "policies" / "keys").mkdir(parents=True)
    (tmp_path / "policies" / "keys" / os.fsdecode(b"k\xff")).write_text("x\n")
    with pytest.raises(InvalidConfig) as refused:
        governance.policy_files(tmp_path)
    [found] = refused.value.diagnostics
    assert found.path == "policies/keys/k\\xff" and "not UTF-8" in found.message and "rename it" in found.hint
