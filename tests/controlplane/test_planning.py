"""The planner: pairing desired and live objects, and who may be deleted."""

from __future__ import annotations

from typing import Any

from controlplane.planning import Inventory, PlanOptions, plan
from controlplane.plans import Action, DesiredObject, LiveObject, ObjectRef, Plan


def _ref(kind: str, name: str, ns: str | None = "ns") -> ObjectRef:
    api = "v1"
    return ObjectRef("kubernetes", api, kind, ns, name)


def _desired(ref: ObjectRef, spec: dict[str, Any], rank: int = 40) -> DesiredObject:
    manifest = {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": {"name": ref.name}, "spec": spec}
    return DesiredObject(ref, manifest, "Quota/t/q", "t", "tenants/t/quota.yaml", rank)


def _live(ref: ObjectRef, spec: dict[str, Any], annotations: dict[str, str] | None = None) -> LiveObject:
    meta = {"name": ref.name, "resourceVersion": "5", "labels": {"app.kubernetes.io/managed-by": "mlcp"}}
    if annotations:
        meta["annotations"] = annotations  # type: ignore[assignment]
    return LiveObject(ref, {"metadata": meta, "spec": spec}, "5")


def test_create_update_noop() -> None:
    a, b, c = _ref("ResourceQuota", "a"), _ref("ResourceQuota", "b"), _ref("ResourceQuota", "c")
    desired = [_desired(a, {"x": 1}), _desired(b, {"x": 1}), _desired(c, {"x": 1})]
    live = {b: _live(b, {"x": 2}), c: _live(c, {"x": 1})}
    result = plan(desired, live, Inventory(), PlanOptions())
    actions = {ch.ref.name: ch.action for ch in result.changes}
    assert actions == {"a": Action.create, "b": Action.update, "c": Action.noop}
    assert result.counts()["update"] == 1


def test_only_inventoried_objects_are_deleted_and_only_with_prune() -> None:
    owned, copied = _ref("ResourceQuota", "owned"), _ref("ResourceQuota", "copied")
    live = {owned: _live(owned, {}), copied: _live(copied, {})}
    inventory = Inventory(frozenset({owned}))
    without = plan([], live, inventory, PlanOptions(prune=False))
    [change] = without.changes
    assert change.ref == owned and change.action is Action.delete and change.blocked
    with_prune = plan([], live, inventory, PlanOptions(prune=True))
    [change] = with_prune.changes
    assert change.ref == owned and change.blocked is None
    assert with_prune.meta["ignoredUnowned"] == {"count": 1, "first": [str(copied)]}


def test_protected_namespace_is_never_deleted() -> None:
    ns = _ref("Namespace", "team", None)
    live = {ns: _live(ns, {}, {"mlcp.dev/deletion-protection": "true"})}
    options = PlanOptions(prune=True, allow_namespace_deletion=True)
    [change] = plan([], live, Inventory(frozenset({ns})), options).changes
    assert change.blocked and "deletion protection" in change.blocked


def test_namespace_deletion_needs_explicit_flag() -> None:
    ns = _ref("Namespace", "team", None)
    live = {ns: _live(ns, {}, {"mlcp.dev/deletion-protection": "false"})}
    [change] = plan([], live, Inventory(frozenset({ns})), PlanOptions(prune=True)).changes
    assert change.blocked and "--allow-namespace-deletion" in change.blocked
    options = PlanOptions(prune=True, allow_namespace_deletion=True)
    [change] = plan([], live, Inventory(frozenset({ns})), options).changes
    assert change.blocked is None


def test_plan_round_trips_through_json() -> None:
    a = _ref("ResourceQuota", "a")
    result = plan(
        [_desired(a, {"hard": {"cpu": "1"}})], {a: _live(a, {"hard": {"cpu": "2"}})}, Inventory(), PlanOptions()
    )
    again = Plan.from_dict(__import__("json").loads(result.to_json()))
    assert again.changes == result.changes


def test_deletes_come_in_reverse_rank_order() -> None:
    ns, quota = _ref("Namespace", "n", None), _ref("ResourceQuota", "q")
    live = {ns: _live(ns, {}, {"mlcp.dev/deletion-protection": "false"}), quota: _live(quota, {})}
    options = PlanOptions(prune=True, allow_namespace_deletion=True, ranks={"Namespace": 10, "ResourceQuota": 40})
    result = plan([], live, Inventory(frozenset({ns, quota})), options)
    assert [c.ref.kind for c in result.changes] == ["ResourceQuota", "Namespace"]
