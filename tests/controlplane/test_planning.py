"""The planner: pairing desired and live objects, and who may be deleted."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from controlplane.inventory import Claim, Inventory, InventoryRecord
from controlplane.planning import PlanOptions, attributed, plan
from controlplane.plans import Action, Change, DesiredObject, EditableFields, LiveObject, ObjectRef, Plan, SpecKey
from controlplane.rendering import mlflow_objects, mlflow_permissions
from controlplane.rendering.context import ACCESS_KINDS


def _ref(kind: str, name: str, ns: str | None = "ns") -> ObjectRef:
    api = "v1"
    return ObjectRef("kubernetes", api, kind, ns, name)


def _desired(ref: ObjectRef, spec: dict[str, Any], rank: int = 40) -> DesiredObject:
    manifest = {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": {"name": ref.name}, "spec": spec}
    return DesiredObject(ref, manifest, SpecKey("Quota", "t", "q"), "t", "tenants/t/quota.yaml", rank)


def _live(ref: ObjectRef, spec: dict[str, Any], annotations: dict[str, str] | None = None) -> LiveObject:
    meta = {"name": ref.name, "resourceVersion": "5", "labels": {"app.kubernetes.io/managed-by": "mlcp"}}
    if annotations:
        meta["annotations"] = annotations
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


def test_a_grant_of_access_removed_from_git_is_revoked_even_with_prune_off() -> None:
    """The Tenant no longer renders `mlcp-edit` (its last edit member left): the binding mlcp wrote goes, prune
    or not, as do MLflow grants; other objects stay until prune; a binding mlcp never wrote is not touched."""
    binding = ObjectRef("kubernetes", "rbac.authorization.k8s.io/v1", "RoleBinding", "ns", "mlcp-edit")
    grant = ObjectRef("mlflow", "mlflow/v1", "ExperimentPermission", None, "t/exp#bob")
    quota, stranger = _ref("ResourceQuota", "q"), replace(binding, name="someone-elses")
    live = {ref: _live(ref, {}) for ref in (binding, grant, quota, stranger)}
    records = {binding: _record(), grant: _record(), quota: _record()}
    inventory = Inventory(frozenset({binding, grant, quota}), records=records)
    options = PlanOptions(access={(binding.api_version, binding.kind), (grant.api_version, grant.kind)})
    planned = {c.ref: c for c in plan([], live, inventory, options).changes}
    assert set(planned) == {binding, grant, quota}, "only what mlcp's inventory says it wrote"
    assert planned[binding].action is Action.delete and planned[binding].blocked is None
    assert planned[grant].action is Action.delete and planned[grant].blocked is None
    assert planned[binding].spec == SpecKey("Tenant", "t", "t"), "authorized as the Tenant's change"
    assert planned[quota].blocked is not None and "prune is off" in planned[quota].blocked
    unreadable = replace(_record(), error="piece missing")
    broken = Inventory(frozenset({binding}), records={binding: unreadable})
    [change] = plan([], {binding: live[binding]}, broken, options).changes
    assert change.blocked is not None and "unreadable" in change.blocked, "nobody attributed: not deleted"


def test_the_catalog_says_which_kinds_grant_access() -> None:
    assert ("rbac.authorization.k8s.io/v1", "RoleBinding") in ACCESS_KINDS
    assert ("v1", "ResourceQuota") not in ACCESS_KINDS and ("rbac.authorization.k8s.io/v1", "Role") not in ACCESS_KINDS
    for kind in mlflow_permissions.KINDS:
        assert (mlflow_objects.API_VERSION, kind) in ACCESS_KINDS


def _record(tenant: str = "t", protected: bool = False, adopted: bool = False) -> InventoryRecord:
    return InventoryRecord(f"Tenant/{tenant}/{tenant}", tenant, f"tenants/{tenant}/tenant.yaml", protected, adopted)


def test_protected_namespace_is_never_deleted() -> None:
    ns = _ref("Namespace", "team", None)
    live = {ns: _live(ns, {})}
    options = PlanOptions(prune=True, allow_namespace_deletion=True)
    [change] = plan([], live, Inventory(frozenset({ns}), records={ns: _record(protected=True)}), options).changes
    assert change.blocked and "deletion protection" in change.blocked


def test_namespace_deletion_needs_explicit_flag() -> None:
    ns = _ref("Namespace", "team", None)
    live = {ns: _live(ns, {})}
    inventory = Inventory(frozenset({ns}), records={ns: _record()})
    [change] = plan([], live, inventory, PlanOptions(prune=True)).changes
    assert change.blocked and "--allow-namespace-deletion" in change.blocked
    options = PlanOptions(prune=True, allow_namespace_deletion=True)
    [change] = plan([], live, inventory, options).changes
    assert change.blocked is None


PRUNE_ALL = PlanOptions(prune=True, allow_namespace_deletion=True)


def test_protection_comes_from_the_record_not_from_the_live_annotation() -> None:
    """A namespace admin cannot lift protection by editing the annotation, nor add it to keep a namespace."""
    ns = _ref("Namespace", "team", None)
    lifted = {ns: _live(ns, {}, {"mlcp.dev/deletion-protection": "false"})}
    [change] = plan([], lifted, Inventory(frozenset({ns}), records={ns: _record(protected=True)}), PRUNE_ALL).changes
    assert change.blocked and "deletion protection" in change.blocked
    added = {ns: _live(ns, {}, {"mlcp.dev/deletion-protection": "true"})}
    [change] = plan([], added, Inventory(frozenset({ns}), records={ns: _record()}), PRUNE_ALL).changes
    assert change.blocked is None


def test_adopted_namespace_is_never_deleted() -> None:
    ns = _ref("Namespace", "team", None)
    inventory = Inventory(frozenset({ns}), records={ns: _record(adopted=True)})
    [change] = plan([], {ns: _live(ns, {})}, inventory, PRUNE_ALL).changes
    assert change.blocked and "adopted" in change.blocked and "never deletes" in change.blocked


def test_forged_labels_do_not_change_whose_delete_it_is() -> None:
    """The live object claims tenant `mine`'s spec; mlcp's record says tenant `theirs`: the record decides."""
    quota = _ref("ResourceQuota", "q")
    forged = _live(quota, {})
    forged.manifest["metadata"]["labels"].update({"mlcp.dev/tenant": "mine", "mlcp.dev/spec": "Quota.q"})
    forged.manifest["metadata"]["annotations"] = {"mlcp.dev/source": "tenants/mine/quota.yaml"}
    record = InventoryRecord("Quota/theirs/q", "theirs", "tenants/theirs/quota.yaml")
    [change] = plan([], {quota: forged}, Inventory(frozenset({quota}), records={quota: record}), PRUNE_ALL).changes
    assert (str(change.spec), change.tenant, change.source) == ("Quota/theirs/q", "theirs", "tenants/theirs/quota.yaml")
    assert change.blocked is None


@pytest.mark.parametrize("label", ["", "Quota", "..", "Quota.q.x/y", "x" * 63, "Tenant.../../etc"])
def test_without_a_record_a_delete_is_attributed_to_nobody_whatever_the_labels(label: str) -> None:
    quota = _ref("ResourceQuota", "q")
    live = _live(quota, {})
    live.manifest["metadata"]["labels"].update({"mlcp.dev/tenant": "mine", "mlcp.dev/spec": label})
    [change] = plan([], {quota: live}, Inventory(frozenset({quota})), PRUNE_ALL).changes
    assert (change.spec, change.tenant, change.source) == (None, None, None)
    assert change.blocked is None and "no record" in change.reason


def test_an_unreadable_record_blocks_that_one_delete_with_a_reason() -> None:
    bad, good = _ref("ResourceQuota", "bad"), _ref("ResourceQuota", "good")
    records = {bad: InventoryRecord.checked("Quota/t/q", 7, None), good: _record()}
    live = {bad: _live(bad, {}), good: _live(good, {})}
    result = plan([], live, Inventory(frozenset({bad, good}), records=records), PRUNE_ALL)
    by_name = {c.ref.name: c for c in result.changes}
    assert by_name["bad"].blocked and "unreadable" in by_name["bad"].blocked and "tenant is 7" in by_name["bad"].blocked
    assert by_name["bad"].tenant is None and by_name["bad"].spec is None
    assert by_name["good"].blocked is None and by_name["good"].tenant == "t"


@pytest.mark.parametrize(
    ("spec", "tenant", "source", "problem"),
    [
        ("Quota/t/q", ["t"], None, "tenant is ['t']"),
        ("Quota/t/q", "T!", None, "not a DNS label"),
        ("Quota/t/q", "u", None, "does not belong to tenant 'u'"),
        ("Quota/q", "t", None, "does not belong to tenant 't'"),
        (None, "t", None, "without a spec"),
        ("quota/t/q", "t", None, "not Kind/name"),
        ("Quota/t/q/x", "t", None, "not Kind/name"),
        ("Quota/t/q", "t", "/etc/passwd", "not a path inside"),
        ("Quota/t/q", "t", "tenants/../x", "not a path inside"),
        ("", None, None, "spec is ''"),
    ],
)
def test_stored_values_mlcp_never_writes_make_an_unreadable_record(
    spec: object, tenant: object, source: object, problem: str
) -> None:
    record = InventoryRecord.checked(spec, tenant, source)
    assert record.error is not None and problem in record.error
    assert (record.spec, record.tenant, record.source) == (None, None, None)


def test_attributing_again_with_the_same_record_changes_nothing() -> None:
    ns = _ref("Namespace", "team", None)
    inventory = Inventory(frozenset({ns}), records={ns: _record(protected=True)})
    [change] = plan([], {ns: _live(ns, {})}, inventory, PlanOptions()).changes
    assert attributed(change, inventory.owner_of(ns)) == change


def _claim(ref: ObjectRef, tenant: str, wrote: bool, adopted: bool = False) -> dict[ObjectRef, Claim]:
    return {ref: Claim(_record(tenant, adopted=adopted), wrote)}


def test_inventory_update_a_write_replaces_the_record_a_noop_only_fills_a_missing_one() -> None:
    a, b, c = _ref("ResourceQuota", "a"), _ref("ResourceQuota", "b"), _ref("ResourceQuota", "c")
    prior = Inventory(frozenset({a, b, c}), records={a: _record("old"), b: _record("old")})
    claims = {**_claim(a, "new", wrote=True), **_claim(b, "new", wrote=False), **_claim(c, "new", wrote=False)}
    after = prior.updated({a, b, c}, claims)
    assert {r.name: after.records[r].tenant for r in (a, b, c)} == {"a": "new", "b": "old", "c": "new"}


def test_inventory_update_never_takes_in_an_unclaimed_stranger() -> None:
    """A blocked or failed change claims nothing: its object enters the inventory only if it was there."""
    kept, stranger, gone = (
        _ref("ResourceQuota", "kept"),
        _ref("ResourceQuota", "stranger"),
        _ref("ResourceQuota", "gone"),
    )
    prior = Inventory(frozenset({kept, gone}), revision="r1", records={kept: _record("t")})
    after = prior.updated({kept, stranger}, {})
    assert after.refs == {kept} and after.records == {kept: _record("t")} and after.revision == "r1"


def test_inventory_update_drops_a_record_of_an_object_the_inventory_does_not_hold() -> None:
    """A record without its ref (never written by mlcp so) never lets the object in unclaimed, however it got there."""
    held, stale = _ref("ResourceQuota", "held"), _ref("ResourceQuota", "stale")
    prior = Inventory(frozenset({held}), records={held: _record("t"), stale: _record("t")})
    after = prior.updated({held, stale}, _claim(held, "t", wrote=True))
    assert after.refs == {held} and set(after.records) == {held}
    again = after.updated({held, stale}, _claim(held, "u", wrote=True))
    assert again.refs == {held} and dict(again.records) == {held: _record("u")}


def test_adoption_is_never_forgotten() -> None:
    ns = _ref("Namespace", "team", None)
    prior = Inventory(frozenset({ns}), records={ns: _record(adopted=True)})
    after = prior.updated({ns}, _claim(ns, "t", wrote=True, adopted=False))
    assert after.records[ns].adopted


def test_record_of_a_change_takes_namespace_flags_from_the_rendered_manifest() -> None:
    ns = _ref("Namespace", "team", None)
    annotations = {"mlcp.dev/deletion-protection": "true", "mlcp.dev/adopted-namespace": "true"}
    desired = {"metadata": {"name": "team", "annotations": annotations}}
    change = Change(
        ns, Action.create, "", SpecKey("Tenant", "t", "t"), "t", "tenants/t/tenant.yaml", 10, desired=desired
    )
    assert InventoryRecord.of(change) == _record(protected=True, adopted=True)
    quota = replace(change, ref=_ref("ResourceQuota", "q"))
    assert not InventoryRecord.of(quota).protected and not InventoryRecord.of(quota).adopted


def test_merged_inventories_keep_every_systems_records() -> None:
    k, m = _ref("ResourceQuota", "k"), ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "e")
    one = Inventory(frozenset({k}), "7", "r1", {k: _record("a")})
    two = Inventory(frozenset({m}), None, None, {m: _record("b")})
    merged = Inventory.merged([one, two])
    assert merged.refs == {k, m} and merged.version == "7" and merged.revision == "r1"
    assert merged.owner_of(m) == _record("b") and merged.owner_of(k) == _record("a")


def test_plan_round_trips_through_json() -> None:
    a = _ref("ResourceQuota", "a")
    result = plan(
        [_desired(a, {"hard": {"cpu": "1"}})], {a: _live(a, {"hard": {"cpu": "2"}})}, Inventory(), PlanOptions()
    )
    again = Plan.from_dict(__import__("json").loads(result.to_json()))
    assert again.changes == result.changes
    [change] = result.changes
    carrying = replace(result, changes=(replace(change, fallback=replace(change, drift="by hand", reason="back")),))
    assert Plan.from_dict(__import__("json").loads(carrying.to_json())).changes == carrying.changes


def test_deletes_come_in_reverse_rank_order() -> None:
    ns, quota = _ref("Namespace", "n", None), _ref("ResourceQuota", "q")
    live = {ns: _live(ns, {}), quota: _live(quota, {})}
    options = PlanOptions(prune=True, allow_namespace_deletion=True, ranks={"Namespace": 10, "ResourceQuota": 40})
    result = plan([], live, Inventory(frozenset({ns, quota}), records={ns: _record()}), options)
    assert [c.ref.kind for c in result.changes] == ["ResourceQuota", "Namespace"]


def test_a_delete_is_ranked_as_the_kind_that_made_it_declared_it() -> None:
    """A tenant moved away: its notebook's Role and the tenant's deployer RoleBinding are both pruned. Ranked by
    kind alone, the Role took the Tenant's rank for Roles (30), below the binding (31), so it was deleted after the
    binding that let the deployer delete it, and refused. By its record's spec (Notebook: 56) it goes first; a Role
    no record attributes keeps the lowest rank (deleted last)."""
    role, binding, stray = (
        _ref("Role", "mlcp-notebook-explore"),
        _ref("RoleBinding", "mlcp-deployer"),
        _ref("Role", "x"),
    )
    live = {ref: _live(ref, {}) for ref in (role, binding, stray)}
    records = {
        role: InventoryRecord("Notebook/t/explore", "t", "tenants/t/notebooks/explore.yaml"),
        binding: InventoryRecord("Tenant/t/t", "t", "tenants/t/tenant.yaml"),
    }
    declared = {("Notebook", "Role"): 56, ("Tenant", "RoleBinding"): 31, ("Tenant", "Role"): 30}
    options = PlanOptions(
        prune=True,
        ranks={"Role": 30, "RoleBinding": 31},
        declared_rank=lambda spec_kind, api_version, kind: declared.get((spec_kind, kind)),
    )
    result = plan([], live, Inventory(frozenset(live), records=records), options)
    assert [(c.ref.name, c.rank) for c in result.changes] == [
        ("mlcp-notebook-explore", 56),
        ("mlcp-deployer", 31),
        ("x", 30),
    ]


def test_inventory_update_of_a_noop_apply_keeps_everything_as_it_was() -> None:
    a, b, c = _ref("ResourceQuota", "a"), _ref("ResourceQuota", "b"), _ref("ResourceQuota", "c")
    prior = Inventory(frozenset({a, b, c}), "7", "r1", {a: _record("t"), b: _record("u")})
    after = prior.updated(frozenset({a, b, c}), {**_claim(a, "other", wrote=False), **_claim(b, "u", wrote=False)})
    assert (after.refs, after.records, after.revision, after.version) == (prior.refs, prior.records, "r1", None)
    filled = prior.updated(frozenset({a, b, c}), _claim(c, "v", wrote=False))
    assert filled.records[c].tenant == "v", "a no-op still fills a missing record"


def test_an_update_shown_only_some_objects_keeps_every_other_one_as_the_whole_update_does() -> None:
    """`updated(refs, claims, only)` (a pass that planned a few tenants) is `updated(refs | (refs of the inventory
    outside only), claims)`: randomized inventories and applies, with stale records, unreadable ones and index."""
    rng = random.Random(16)
    universe = [_ref("ResourceQuota", f"q{i}") for i in range(40)]
    for step in range(2_000):
        held = frozenset(r for r in universe if rng.random() < 0.5)
        records = {
            r: _record(rng.choice(["t", "u", "v"])) for r in universe if rng.random() < (0.9 if r in held else 0.1)
        }
        for ref in [r for r in records if rng.random() < 0.1]:
            records[ref] = replace(records[ref], error="unreadable")
        prior = Inventory(held, "v1", "r1", records)
        if step % 2:
            prior.recorded_for(["t"])  # with its index by tenant, which `updated` moves
        only = frozenset(r for r in universe if rng.random() < 0.3)
        refs = frozenset(r for r in only if rng.random() < 0.7)
        claims = {r: Claim(_record(rng.choice(["t", "w"])), rng.random() < 0.5) for r in only if rng.random() < 0.6}
        whole = prior.updated(refs | (prior.refs - only), claims)
        shown = prior.updated(refs, claims, only)
        assert shown.refs == whole.refs and dict(shown.records) == dict(whole.records), step
        assert shown.recorded_for(["t", "u"]) == whole.recorded_for(["t", "u"]), step


def test_an_update_shown_only_some_objects_refuses_refs_outside_them() -> None:
    a, b = _ref("ResourceQuota", "a"), _ref("ResourceQuota", "b")
    with pytest.raises(ValueError, match="among `only`"):
        Inventory(frozenset({a})).updated({a, b}, {}, frozenset({a}))


def test_a_merge_within_some_objects_answers_about_them_as_the_whole_merge_does() -> None:
    rng = random.Random(7)
    universe = [_ref("ResourceQuota", f"q{i}") for i in range(30)]
    for step in range(300):
        inventories = []
        for system in ("kubernetes", "mlflow"):
            refs = [replace(r, system=system) for r in universe]
            held = frozenset(r for r in refs if rng.random() < 0.5)
            records = {r: _record(rng.choice(["t", "u"])) for r in refs if rng.random() < 0.6}
            inventories.append(Inventory(held, rng.choice([None, "v1"]), rng.choice([None, "r1"]), records))
        whole = Inventory.merged(inventories)
        asked = [r for i in inventories for r in i.refs | i.records.keys() if rng.random() < 0.4]
        within = Inventory.merged_within(inventories, asked)
        assert (within.version, within.revision) == (whole.version, whole.revision), step
        for ref in asked:
            assert (ref in within.refs) == (ref in whole.refs), step
            assert within.owner_of(ref) == whole.owner_of(ref) and within.records.get(ref) == whole.records.get(ref)


def test_an_update_its_controller_refuses_is_blocked_naming_the_fields() -> None:
    """A field its controller lets change is updated as any other; one it does not is blocked with its `why`."""
    fixed, tunable = _ref("Search", "fixed"), _ref("Search", "tunable")
    editable = EditableFields((("metadata",), ("spec", "trials")), "only the trials change: rename it")
    desired = [_desired(fixed, {"goal": 0.9, "trials": 5}), _desired(tunable, {"goal": 0.8, "trials": 9})]
    live = {fixed: _live(fixed, {"goal": 0.8, "trials": 5}), tunable: _live(tunable, {"goal": 0.8, "trials": 5})}
    options = PlanOptions(editable=lambda api_version, kind: editable if kind == "Search" else None)
    changes = {c.ref.name: c for c in plan(desired, live, Inventory(), options).changes}
    assert changes["fixed"].blocked == "spec.goal cannot change in place: only the trials change: rename it"
    assert changes["tunable"].action is Action.update and changes["tunable"].blocked is None
    assert plan(desired, live, Inventory(), PlanOptions()).changes[0].blocked is None  # nothing declared
