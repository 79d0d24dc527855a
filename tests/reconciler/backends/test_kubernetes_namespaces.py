"""Namespace ownership, as a tenant trying to take someone else's namespace would meet it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration

from controlplane.inventory import Inventory, InventoryRecord
from controlplane.loading.repo import ConfigRepo
from controlplane.plans import Action, Change, ObjectRef, SpecKey
from controlplane.specs import Tenant
from reconciler.backends.base import ApplyOptions, BackendError, Status
from reconciler.backends.kubernetes import KubernetesBackend
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backends.kubernetes_namespaces import RULE, NamespaceClaims
from reconciler.impersonation import Allowed
from reconciler.trust import TrustedBase

SYSTEM_NS = "mlcp-system"


def _ns(name: str) -> ObjectRef:
    return ObjectRef("kubernetes", "v1", "Namespace", None, name)


def _record(tenant: str) -> InventoryRecord:
    return InventoryRecord(f"Tenant/{tenant}/{tenant}", tenant, f"tenants/{tenant}/tenant.yaml")


def _claim(tenant: str, namespace: str, action: Action = Action.create, adopt: bool = False) -> list[Change]:
    """A tenant's Namespace change plus one RoleBinding in it."""
    annotations = {"mlcp.dev/adopted-namespace": "true"} if adopt else {}
    desired = {"metadata": {"name": namespace, "annotations": annotations}}
    source = f"tenants/{tenant}/tenant.yaml"
    live = None if action is Action.create else "1"
    binding = ObjectRef("kubernetes", "rbac.authorization.k8s.io/v1", "RoleBinding", namespace, "mlcp-admin")
    return [
        Change(_ns(namespace), action, "", SpecKey("Tenant", tenant, tenant), tenant, source, 10, (), desired, live),
        Change(binding, action, "", SpecKey("Tenant", tenant, tenant), tenant, source, 31, (), {}, live),
    ]


class Cluster:
    """Which namespaces exist, and every lookup made."""

    def __init__(self, *existing: str, broken: bool = False) -> None:
        self.existing = set(existing)
        self.broken = broken
        self.looked: list[list[str]] = []

    def __call__(self, names: list[str]) -> dict[str, bool | str]:
        self.looked.append(names)
        if self.broken:
            return dict.fromkeys(names, "HTTP 403: forbidden")
        return {n: n in self.existing for n in names}


NOTHING = Inventory()


def _base(**namespaces: str) -> TrustedBase:
    """A trusted base whose tenants (keyword) declare these namespaces."""
    tenants = {name: _tenant(name, namespace) for name, namespace in namespaces.items()}
    return TrustedBase("b" * 40, "applied", ConfigRepo(Path()), derived_tenants=tenants)


def _tenant(name: str, namespace: str) -> Tenant:
    spec = {"owners": [f"{name}@example.com"], "namespace": namespace}
    return Tenant.model_validate(
        {"apiVersion": "mlcp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": spec}
    )


def _review(
    changes: list[Change],
    inventory: Inventory = NOTHING,
    cluster: Cluster | None = None,
    base: TrustedBase | None = None,
) -> dict[str, str | None]:
    """tenant → why its changes are blocked (None: not blocked); every change of a tenant must agree."""
    reviewed = NamespaceClaims(inventory, SYSTEM_NS, cluster or Cluster(), base).review(changes)
    assert len(reviewed) == len(changes)
    out: dict[str, str | None] = {}
    for change in reviewed:
        assert out.get(change.tenant or "", change.blocked) == change.blocked, "a tenant is refused as a whole"
        out[change.tenant or ""] = change.blocked
    return out


def _owned(namespace: str, tenant: str) -> Inventory:
    return Inventory(frozenset({_ns(namespace)}), records={_ns(namespace): _record(tenant)})


@pytest.mark.parametrize("namespace", ["default", "kube-system", "kube-public", "kube-flannel", SYSTEM_NS])
def test_system_namespaces_are_refused_even_with_adoption(namespace: str) -> None:
    cluster = Cluster(namespace)
    [why] = _review(_claim("evil", namespace, adopt=True), cluster=cluster).values()
    assert why and why.startswith(f"{RULE}: tenant 'evil' may not use namespace {namespace!r}")
    assert cluster.looked == [], "refused before any request"


def test_another_tenants_namespace_is_refused_and_its_owner_keeps_converging() -> None:
    owner = _claim("owner", "shared", Action.update)
    verdicts = _review([*owner, *_claim("newcomer", "shared", Action.update)], _owned("shared", "owner"))
    assert verdicts["owner"] is None
    assert verdicts["newcomer"] and "records it as the namespace of tenant 'owner'" in verdicts["newcomer"]


def test_adoption_does_not_take_another_tenants_namespace() -> None:
    verdicts = _review(_claim("newcomer", "shared", Action.update, adopt=True), _owned("shared", "owner"))
    assert verdicts["newcomer"] and "tenant 'owner'" in verdicts["newcomer"]


def test_two_newcomers_for_one_unrecorded_namespace_are_both_refused() -> None:
    cluster = Cluster()
    verdicts = _review([*_claim("a", "shared"), *_claim("b", "shared")], cluster=cluster)
    assert verdicts["a"] and "tenant(s) 'b' declare it too" in verdicts["a"]
    assert verdicts["b"] and "tenant(s) 'a' declare it too" in verdicts["b"]


def test_a_newcomer_cannot_block_the_first_apply_of_the_tenant_the_trusted_base_gives_the_namespace() -> None:
    """Vision is in the trusted base but not applied yet (no record); a newcomer names vision's namespace."""
    cluster = Cluster()
    base = _base(vision="vision-ns")
    verdicts = _review([*_claim("vision", "vision-ns"), *_claim("newcomer", "vision-ns")], cluster=cluster, base=base)
    assert verdicts["vision"] is None, "the base's tenant keeps its namespace"
    why = verdicts["newcomer"]
    assert why and "tenant(s) 'vision' declare it in the trusted base bbbbbbbbbbbb" in why, why
    assert "choose another namespace" in why
    assert cluster.looked == [["vision-ns"]], "the base's tenant still may not take a namespace that exists"


def test_a_newcomer_alone_in_a_plan_cannot_take_the_namespace_the_trusted_base_gives_another_tenant() -> None:
    """A sharded replica plans only its own tenants: vision's claim is not in the newcomer's plan."""
    cluster = Cluster()
    [why] = _review(_claim("newcomer", "vision-ns"), cluster=cluster, base=_base(vision="vision-ns")).values()
    assert why and "tenant(s) 'vision' declare it in the trusted base" in why
    assert cluster.looked == [], "refused before any request"


def test_the_trusted_base_does_not_decide_between_two_tenants_it_both_gives_the_namespace() -> None:
    base = _base(a="shared", b="shared")
    verdicts = _review([*_claim("a", "shared"), *_claim("b", "shared")], base=base)
    assert verdicts["a"] and "tenant(s) 'b' declare it in the trusted base" in verdicts["a"]
    assert verdicts["b"] and "tenant(s) 'a' declare it in the trusted base" in verdicts["b"]


def test_a_record_outranks_the_trusted_base() -> None:
    base = _base(vision="shared")
    verdicts = _review([*_claim("vision", "shared", Action.update)], _owned("shared", "nlp"), base=base)
    assert verdicts["vision"] and "records it as the namespace of tenant 'nlp'" in verdicts["vision"]


def test_an_existing_namespace_mlcp_did_not_create_is_refused_unless_adopted() -> None:
    cluster = Cluster("hand-made")
    [why] = _review(_claim("newcomer", "hand-made"), cluster=cluster).values()
    assert why and "exists and mlcp did not create it" in why and "adoptNamespace: true" in why
    assert cluster.looked == [["hand-made"]]
    assert _review(_claim("newcomer", "hand-made", adopt=True), cluster=Cluster("hand-made")) == {"newcomer": None}


def test_a_labelled_namespace_missing_from_the_inventory_is_refused() -> None:
    """Someone made it with mlcp's labels (squatting, with a RoleBinding of their own inside)."""
    [why] = _review(_claim("newcomer", "squatted", Action.update)).values()
    assert why and "inventory does not record making it" in why


def test_a_namespace_that_cannot_be_looked_up_is_refused() -> None:
    [why] = _review(_claim("newcomer", "unknown"), cluster=Cluster(broken=True)).values()
    assert why and "cannot tell whether it exists (HTTP 403" in why


def test_a_new_namespace_is_created_after_one_lookup_and_none_for_known_ones() -> None:
    cluster = Cluster()
    known = [*_claim("old", "old-ns", Action.noop), *_claim("legacy", "legacy-ns", Action.update)]
    inventory = Inventory(frozenset({_ns("old-ns"), _ns("legacy-ns")}), records={_ns("old-ns"): _record("old")})
    verdicts = _review([*_claim("new", "fresh"), *_claim("other", "fresh2"), *known], inventory, cluster)
    assert verdicts == {"new": None, "other": None, "old": None, "legacy": None}
    assert cluster.looked == [["fresh", "fresh2"]], "one batched lookup for the creates; none for recorded namespaces"


def test_an_unreadable_namespace_record_refuses_every_claim() -> None:
    inventory = Inventory(frozenset({_ns("x")}), records={_ns("x"): InventoryRecord.checked("Tenant/a/a", "b", None)})
    [why] = _review(_claim("a", "x", Action.update), inventory).values()
    assert why and "unreadable" in why


def test_a_plan_without_namespace_creates_sends_no_lookup() -> None:
    cluster = Cluster()
    _review(_claim("owner", "ns", Action.noop), _owned("ns", "owner"), cluster)
    assert cluster.looked == []


# -- through the backend, with a fake API server ---------------------------------------------------------------


class FakeClient(KubeClient):
    """A client whose API server knows only the namespaces in `existing`."""

    def __init__(self, existing: set[str]) -> None:
        configuration = Configuration()
        configuration.host = "https://127.0.0.1:1"
        super().__init__(ApiClient(configuration), SYSTEM_NS)
        self.existing = existing
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.sent.append((method, path))
        if method == "GET" and path.startswith("/api/v1/namespaces/"):
            name = path.rsplit("/", 1)[1]
            if name not in self.existing:
                raise HttpError(404, "Not Found", {})
            return {"metadata": {"name": name}}
        if method == "GET":
            return {"items": [{"metadata": {"name": n}} for n in sorted(self.existing)], "metadata": {}}
        return {"metadata": {"resourceVersion": "9"}}


class FakeKube(KubernetesBackend):
    """The backend on a fake client; `sent` is what reached the "server"."""

    def __init__(self, existing: set[str], client: type[FakeClient] = FakeClient) -> None:
        super().__init__(client(existing))

    @property
    def sent(self) -> list[tuple[str, str]]:
        assert isinstance(self.client, FakeClient)
        return self.client.sent


def test_many_namespace_creates_cost_one_list_not_one_get_each() -> None:
    kube = FakeKube({"taken"})
    kube._inventory = Inventory()
    changes = [c for i in range(40) for c in _claim(f"t{i}", f"ns-{i}")] + _claim("evil", "taken")
    reviewed = kube.review(changes)
    assert [m for m, _ in kube.sent] == ["GET"], "one LIST of all namespaces"
    blocked = {c.tenant for c in reviewed if c.blocked}
    assert blocked == {"evil"}


def test_applying_a_saved_plan_never_takes_over_a_namespace_that_appeared_since() -> None:
    kube = FakeKube({"appeared"})
    kube.entrust(Allowed({"t": "appeared"}))  # an allowed new tenant: its namespace is where mlcp may write
    [ns_create, _] = _claim("t", "appeared")
    outcome = kube.apply(ns_create, ApplyOptions())
    assert outcome.status is Status.failed and "appeared since the plan" in outcome.message
    assert ("PATCH", "/api/v1/namespaces/appeared") not in kube.sent


def test_a_create_the_review_just_checked_is_not_looked_up_again() -> None:
    kube = FakeKube(set())
    kube._inventory = Inventory()
    kube.entrust(Allowed({"t": "fresh"}))
    [ns_create, _] = kube.review(_claim("t", "fresh"))
    kube.sent.clear()
    assert kube.apply(ns_create, ApplyOptions()).status is Status.applied
    assert kube.sent == [("PATCH", "/api/v1/namespaces/fresh")]


def test_review_attributes_deletes_from_its_own_record_not_from_the_plan() -> None:
    """Even when the planner was given no records (an inventory merged without them), the backend has them."""
    quota = ObjectRef("kubernetes", "v1", "ResourceQuota", "team", "q")
    mine = SpecKey("Quota", "mine", "q")
    forged = Change(quota, Action.delete, "removed from git", mine, "mine", "tenants/mine/q.yaml", 40)
    kube = FakeKube(set())
    record = InventoryRecord("Quota/team/q", "team", "tenants/team/quota.yaml")
    kube._inventory = Inventory(frozenset({quota}), records={quota: record})
    [change] = kube.review([forged])
    assert (str(change.spec), change.tenant, change.source) == ("Quota/team/q", "team", "tenants/team/quota.yaml")
    kube._inventory = Inventory(frozenset({quota}))
    [change] = kube.review([forged])
    assert (change.spec, change.tenant, change.source) == (None, None, None)


def test_an_unreachable_server_during_review_refuses_the_claim_not_the_plan() -> None:
    class Down(FakeClient):
        def request(self, method: str, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
            raise BackendError("cannot reach the Kubernetes API")

    kube = FakeKube(set(), Down)
    kube._inventory = Inventory()
    reviewed = kube.review(_claim("t", "fresh"))
    assert all(c.blocked and "cannot tell whether it exists" in c.blocked for c in reviewed)
