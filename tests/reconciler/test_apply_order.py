"""Which writes wait for which: a namespace's ranks in order, other namespaces free, barriers for the rest."""

from __future__ import annotations

from controlplane.plans import Action, Change, ObjectRef
from reconciler.apply_order import NO_GATE, Gates, Schedule, lane, schedule

ORDER = {"mlflow": 10, "kubernetes": 20}


def _change(kind: str, namespace: str | None, name: str, rank: int, action: Action = Action.create) -> Change:
    system = "mlflow" if kind == "RegisteredModel" else "kubernetes"
    return Change(ObjectRef(system, "v1", kind, namespace, name), action, "", None, None, None, rank)


def _names(plan: Schedule, indices: list[int]) -> set[str]:
    return {str(plan.changes[i].ref) for i in indices}


def _tenants(*names: str) -> list[Change]:
    out = []
    for ns in names:
        out += [_change("Namespace", None, ns, 10), _change("ServiceAccount", ns, "sa", 20)]
        out += [_change("Role", ns, "r", 30), _change("RoleBinding", ns, "rb", 31)]
    return out


def test_lanes_are_namespaces_and_everything_else_is_a_barrier() -> None:
    assert lane(_change("Namespace", None, "a", 10)) == "a"
    assert lane(_change("Role", "a", "r", 30)) == "a"
    assert lane(_change("ClusterRole", None, "deployer", 25)) is None
    assert lane(_change("RegisteredModel", None, "m", 10)) is None
    assert lane(_change("Role", "a", "r", 30, Action.delete)) is None


def test_a_namespace_s_ranks_follow_each_other_and_not_the_other_namespaces() -> None:
    plan = schedule(_tenants("a", "b"), ORDER)
    gates = Gates(plan)
    assert _names(plan, gates.ready) == {"Namespace/a", "Namespace/b"}
    by_name = {str(c.ref): i for i, c in enumerate(plan.changes)}
    assert _names(plan, gates.done(by_name["Namespace/a"])) == {"ServiceAccount/a/sa"}
    assert _names(plan, gates.done(by_name["ServiceAccount/a/sa"])) == {"Role/a/r"}
    assert _names(plan, gates.done(by_name["Role/a/r"])) == {"RoleBinding/a/rb"}, "b's namespace is still writing"
    assert _names(plan, gates.done(by_name["Namespace/b"])) == {"ServiceAccount/b/sa"}


def test_a_cluster_wide_object_waits_for_every_lower_rank_and_every_higher_rank_waits_for_it() -> None:
    plan = schedule([*_tenants("a", "b"), _change("ClusterRole", None, "deployer", 25)], ORDER)
    gates = Gates(plan)
    by_name = {str(c.ref): i for i, c in enumerate(plan.changes)}
    opened: set[str] = set()
    for name in ("Namespace/a", "Namespace/b", "ServiceAccount/a/sa"):
        opened |= _names(plan, gates.done(by_name[name]))
    assert "ClusterRole/deployer" not in opened and "Role/a/r" not in opened
    assert _names(plan, gates.done(by_name["ServiceAccount/b/sa"])) == {"ClusterRole/deployer"}
    assert _names(plan, gates.done(by_name["ClusterRole/deployer"])) == {"Role/a/r", "Role/b/r"}


def test_systems_and_deletes_keep_their_whole_order() -> None:
    """The registry before the cluster; deletes after every create and update, in reverse rank, each a barrier."""
    changes = [
        _change("Role", "a", "gone", 30, Action.delete),
        _change("Namespace", None, "old", 10, Action.delete),
        *_tenants("a"),
        _change("RegisteredModel", None, "m", 10),
    ]
    plan = schedule(changes, ORDER)
    assert [str(c.ref) for c in plan.changes] == [
        "RegisteredModel/m",
        "Namespace/a",
        "ServiceAccount/a/sa",
        "Role/a/r",
        "RoleBinding/a/rb",
        "Role/a/gone",
        "Namespace/old",
    ]
    gates = Gates(plan)
    assert gates.ready == [0], "the cluster waits for the registry"
    started = []
    for i in range(len(plan.changes)):
        assert plan.waits[i] == NO_GATE or i not in gates.ready
        started += gates.done(i)
    assert started == list(range(1, len(plan.changes))), "each change opened by the one before it: one by one"
