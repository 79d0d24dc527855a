"""`mlcp audit list`, `show` and `report` over the cluster log of a sharded controller, in the real API server;
and two writers of one chain racing there.

The chains are written as the replicas write them (reconciler.auditstore.ClusterStore, one per shard beside the
main one) and found the way `mlcp audit verify` finds them: by the label on each chain's pointer ConfigMap.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from controlplane.audit import Anchor, Journal, Result
from controlplane.plans import Action, Change, ObjectRef, Plan, SpecKey
from reconciler import anchors, auditstore
from reconciler.auditstore import ClusterStore
from reconciler.backends.base import Outcome, Status
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.fencing import Fence, FencedStore, Unheld
from tests.controlplane.audit.conftest import make_record
from tests.controlplane.helpers import mlcp

pytestmark = pytest.mark.integration


def test_list_show_and_report_read_every_chain_of_the_cluster_log(
    namespace: str, kubeconfig: Path, tmp_path: Path
) -> None:
    kube = KubeClient.from_kubeconfig(str(kubeconfig), None, namespace)
    main, shard = ClusterStore(kube), ClusterStore(kube, "shard-2")
    main.append_many([replace(make_record(i), time=f"2024-06-0{1 + 2 * i}T10:00:00.000000Z") for i in range(2)])
    intent = replace(make_record(3), time="2024-06-02T10:00:00.000000Z", result=Result.pending)
    shard.append_many([intent])
    shard.append_many([replace(make_record(3), time="2024-06-02T10:00:01.000000Z", intent=1, diff=())])
    where = ("--kubeconfig", kubeconfig, "--controller-namespace", namespace)

    listed = mlcp("audit", "list", "-o", "json", *where)
    assert listed.exit_code == 0, listed.output
    assert [(r["id"], r["chain"]) for r in json.loads(listed.stdout)] == [
        ("1", "main"),
        ("shard-2:2", "shard-2"),
        ("2", "main"),
    ]
    shown = mlcp("audit", "show", "shard-2:2", "-o", "json", *where)
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout)
    assert (record["tenant"], record["intent"]["id"]) == ("nlp", "shard-2:1")
    assert json.loads(mlcp("audit", "show", "2", "-o", "json", *where).stdout)["tenant"] == "vision"

    page = tmp_path / "report.html"
    reported = mlcp("audit", "report", "--html", page, *where)
    assert reported.exit_code == 0, reported.output
    html = page.read_text(encoding="utf-8")
    assert "main: chain intact: 2 records" in html and "shard-2: chain intact: 2 records" in html
    verified = mlcp("audit", "verify", "-o", "json", *where)
    assert verified.exit_code == 0 and json.loads(verified.stdout)["chains"][0]["chain"] == "shard-2"


def test_a_shard_chain_whose_pointer_is_deleted_is_found_by_its_anchor_and_fails_verify(
    namespace: str, kubeconfig: Path, tmp_path: Path
) -> None:
    kube = KubeClient.from_kubeconfig(str(kubeconfig), None, namespace)
    for chain in ("", "shard-2"):
        store = ClusterStore(kube, chain)
        store.append_many([make_record(i) for i in range(3)])
        head = store.head()
        assert head is not None
        anchors.publish(kube, Anchor(head, store.location, "2024-06-01T00:00:00.000000Z", "leader"), chain)
    where = ("--kubeconfig", kubeconfig, "--controller-namespace", namespace)
    exported = tmp_path / "anchor.json"
    assert mlcp("audit", "anchor", "export", "--out", exported, *where).exit_code == 0
    assert json.loads(exported.read_text(encoding="utf-8"))["chains"]["shard-2"]["anchor"].startswith("3:")
    for name in ("mlcp-audit-shard-2", "mlcp-audit-shard-2-00000001"):
        kube.request("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
    for anchor in ("cluster", exported):
        verified = mlcp("audit", "verify", "--anchor", anchor, *where)
        assert verified.exit_code == 1 and "audit chain shard-2 broken at record 1" in verified.stderr, anchor


class _Interleaved:
    """The operator's client, running another writer's append just before its next request of a method."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.before: dict[str, Callable[[], object]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kube, name)

    def request(self, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if (other := self.before.pop(method, None)) is not None:
            other()
        return dict(self.kube.request(method, *args, **kwargs))


@pytest.mark.parametrize("first", ["POST", "PUT"], ids=["next-segment-vs-append", "append-vs-next-segment"])
def test_two_writers_racing_on_the_real_api_server_never_fork_the_chain(
    namespace: str, kubeconfig: Path, first: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop opens the next segment while a writer without the Lease appends to the last one, and the other
    way round; the API server's resourceVersion preconditions decide who goes first, and the loser follows."""
    monkeypatch.setattr(auditstore, "SEGMENT_BYTES", 4096)
    kube = KubeClient.from_kubeconfig(str(kubeconfig), None, namespace)
    racing = _Interleaved(kube)
    loop, stray = ClusterStore(racing), ClusterStore(kube)  # type: ignore[arg-type]
    loop.append_many([replace(make_record(0), spec="first")])
    big = replace(make_record(1), spec="big", diff=({"field": "", "old": None, "new": "x" * 5000},))
    small = replace(make_record(2), spec="small")
    racing.before[first] = lambda: stray.append_many([small if first == "POST" else big])
    loop.append_many([big if first == "POST" else small])
    verified = ClusterStore(kube).verify()
    assert verified.ok and verified.count == 3, verified.problem
    assert sorted(str(r.spec) for r in ClusterStore(kube).records()) == ["big", "first", "small"]


def test_a_closed_segment_is_immutable_on_the_real_api_server(namespace: str, kubeconfig: Path) -> None:
    """A writer of an older release knows nothing of `mlcp.dev/full`: it put its record into a closed segment with
    a PUT carrying the version it read, and the next segment started from the head before it (a fork). The API
    server refuses that PUT now, and mlcp's own writers still continue the chain in the next segment."""
    kube = KubeClient.from_kubeconfig(str(kubeconfig), None, namespace)
    store = ClusterStore(kube)
    big = replace(make_record(0), spec="big", diff=({"field": "", "old": None, "new": "x" * 200_000},))
    store.append_many([big])  # leaves less room than an open segment keeps: created closed
    path = f"/api/v1/namespaces/{namespace}/configmaps/mlcp-audit-00000001"
    segment = dict(kube.request("GET", path))
    assert segment.get("immutable") is True and segment["metadata"]["annotations"][auditstore.FULL] == "true"
    segment["data"] = {auditstore.KEY: segment["data"][auditstore.KEY] + "x"}
    with pytest.raises(HttpError) as refused:
        kube.request("PUT", path, None, segment)  # the old release's append, with the version it read
    assert refused.value.status == 422, refused.value
    store.append_many([make_record(1)])
    assert ClusterStore(kube).verify().ok and ClusterStore(kube).verify().count == 2


def _quota(name: str) -> Change:
    ref = ObjectRef("kubernetes", "v1", "ResourceQuota", "nlp", name)
    desired = {"apiVersion": "v1", "kind": "ResourceQuota", "spec": {"hard": {"cpu": "8"}}}
    key = SpecKey.parse(f"Quota/nlp/{name}")
    return Change(ref, Action.create, "test", key, "nlp", "tenants/nlp/q.yaml:1", 30, desired=desired)


def test_a_writer_whose_shard_lease_ended_appends_nothing_among_the_next_holders_records(
    namespace: str, kubeconfig: Path
) -> None:
    """r1 held shard 0 and intended quota a; its Lease ended (renewals failed on a slow API server) while the
    write was in flight. r2 took the shard, closed r1's intent as interrupted and intended b, then c (apply
    appends its intents in runs while the first writes are in flight). r1's outcome, appended late, landed
    between r2's runs, and r2 died before its outcomes: the next turn looks for open intents only in the newest
    run, found c alone, and r2's write of b stayed open for good. A lane's appends pass its fence: r1's late
    outcome is refused, and no failure of the log (readiness counts none)."""
    kube = KubeClient.from_kubeconfig(str(kubeconfig), None, namespace)
    holder = ["r1"]

    def lane_store(who: str) -> FencedStore:  # as reconciler.shardedloop makes a shard lane's store
        return FencedStore(ClusterStore(kube, "shard-0"), Fence(leading=lambda: holder[0] == who))

    a, b, c = _quota("a"), _quota("b"), _quota("c")
    plan = Plan(changes=(a, b, c), revision="f" * 40)
    old = Journal(lane_store("r1"), plan, actors=["r1"])
    old.reconcile()
    old.intend([a], [])
    holder[0] = "r2"
    new = Journal(lane_store("r2"), plan, actors=["r2"])
    assert [r.intent for r in new.reconcile()] == [1], "r1's intent closed as interrupted"
    new.intend([b], [])
    with pytest.raises(Unheld, match="no longer holds the Lease"):
        old.record([Outcome(a, Status.applied)])
    new.intend([c], [])

    holder[0] = "r3"  # r2 died with b and c written, their outcomes never appended
    closed = Journal(lane_store("r3"), plan, actors=["r3"]).reconcile()
    chain = ClusterStore(kube, "shard-0")
    intents = {r.target["name"]: r.seq for r in chain.records() if r.result == Result.pending}
    assert sorted(r.intent for r in closed) == [intents["b"], intents["c"]], "every open intent of r2 is closed"
    closings = [(r.result, r.intent) for r in chain.records()][-2:]
    assert closings == [(Result.interrupted, intents["b"]), (Result.interrupted, intents["c"])]
    assert not any(r.result == Result.applied for r in chain.records()), "r1's late outcome is nowhere"
    assert chain.verify().ok
