"""Which tenants a pass plans: a diff, live changes and what did not converge select; a full pass plans all."""

from __future__ import annotations

from typing import Any

from controlplane.inventory import Inventory, InventoryRecord
from controlplane.plans import Action, Change, DesiredObject, LiveObject, ObjectRef, Plan, SpecKey
from reconciler.backends.base import LiveState
from reconciler.selection import Selection, choose, live_in, scope, unplanned


def _ref(tenant: str, kind: str = "ResourceQuota", system: str = "kubernetes") -> ObjectRef:
    return ObjectRef(system, "v1", kind, tenant, "compute")


def _desired(tenant: str | None, ref: ObjectRef) -> DesiredObject:
    spec = SpecKey("Tenant", tenant, tenant) if tenant else SpecKey("Platform", None, "deployer")
    return DesiredObject(ref, {"kind": ref.kind}, spec, tenant, f"tenants/{tenant}/tenant.yaml", 10)


def _inventory(owners: dict[ObjectRef, str | None]) -> Inventory:
    records = {ref: InventoryRecord(f"Tenant/{t}/{t}" if t else None, t, None) for ref, t in owners.items()}
    return Inventory(frozenset(owners), records=records)


def test_a_full_reason_wins_then_a_whole_read_then_the_changed_tenants_with_the_unsettled() -> None:
    assert choose("a new leadership term", {"a"}, set(), set()) == Selection(None, "full: a new leadership term")
    assert choose(None, None, set(), set()).full, "a change outside tenants/ or a force push renders everything"
    assert choose(None, {"a"}, None, set()).full, "the trusted base's rules changed"
    picked = choose(None, {"a"}, {"b"}, {"c", ""})
    assert picked.tenants == frozenset({"a", "b", "c"}) and not picked.full
    assert picked.includes("a") and picked.includes(None) and picked.includes(""), "platform objects: always"
    assert not picked.includes("d")


def test_a_selection_narrows_to_another_set_of_tenants() -> None:
    owned = frozenset({"a", "z"})
    assert (Selection.everything("resync") & owned).tenants == owned
    assert (choose(None, {"a", "b"}, set(), set()) & owned).tenants == frozenset({"a"})


def test_the_scope_holds_the_selected_tenants_refs_the_changed_live_ones_and_a_deleted_tenants_records() -> None:
    desired = [_desired(t, _ref(t)) for t in ("a", "b", "c")] + [_desired(None, _ref("", "ClusterRole"))]
    gone = _ref("gone")  # its folder was deleted: only mlcp's inventory still names it
    inventory = _inventory({_ref("a"): "a", _ref("b"): "b", _ref("c"): "c", gone: "gone"})
    dirty = {"kubernetes": frozenset({_ref("c")}), "mlflow": None}
    planned = scope(choose(None, {"a", "gone"}, set(), set()), desired, [inventory], dirty)
    assert planned is not None
    assert planned.refs["kubernetes"] == {_ref("a"), _ref("c"), gone, _ref("", "ClusterRole")}
    assert not planned.includes(_ref("b"))
    assert planned.includes(_ref("b", system="mlflow")), "a system that cannot tell what changed: planned whole"
    assert scope(Selection.everything("resync"), desired, [inventory], dirty) is None


def test_an_unreadable_record_and_objects_that_follow_another_system_are_always_planned() -> None:
    broken = _ref("x")
    inventory = Inventory(frozenset({broken}), records={broken: InventoryRecord(None, None, None, error="bad")})
    served = _ref("b", "InferenceService")
    planned = scope(choose(None, set(), set(), set()), [], [inventory], {"kubernetes": frozenset()}, [served])
    assert planned is not None and planned.refs["kubernetes"] == {broken, served}


def test_live_objects_are_looked_up_by_planned_ref_and_untracked_systems_pass_whole() -> None:
    live = {_ref(t): LiveObject(_ref(t), {}, "1") for t in ("a", "b")}
    planned = scope(
        choose(None, {"a"}, set(), set()), [_desired("a", _ref("a"))], [Inventory()], {"kubernetes": frozenset()}
    )
    assert list(live_in(planned, "kubernetes", live)) == [_ref("a")]
    assert live_in(planned, "mlflow", live) is live
    assert live_in(None, "kubernetes", live) is live


def test_inventoried_objects_a_partial_plan_did_not_look_at_stay_in_the_inventory() -> None:
    change: dict[str, Any] = {"spec": None, "tenant": "a", "source": None, "rank": 10, "reason": ""}
    plan = Plan(changes=(Change(ref=_ref("a"), action=Action.noop, **change),))
    state = LiveState({}, _inventory({_ref("a"): "a", _ref("b"): "b"}))
    assert unplanned(plan, {"kubernetes": state}) == {"kubernetes": frozenset({_ref("b")})}


def test_inventoried_objects_without_a_record_are_attributed_by_the_desired_state() -> None:
    rules = [_desired(t, _ref(t, "TenantMembership", "governance")) for t in ("a", "b")]
    orphan = _ref("gone", "TenantMembership", "governance")
    inventory = Inventory(frozenset([*(o.ref for o in rules), orphan]))  # the trusted base's: no records
    planned = scope(choose(None, {"a"}, set(), set()), rules, [inventory], {"governance": frozenset()})
    assert planned is not None and planned.refs["governance"] == {rules[0].ref, orphan}
