"""Three replicas dividing the tenants by shard Leases, against the real API server.

Each replica is a ShardedLoop in a thread of this process, with its own
Reconciler, clients and Leases, so the test can look inside every replica at
once. It proves, while replicas run, die and join:

- every shard (so every tenant) has at most one replica that may write it, at every sample, and all are held
  once the replicas settle;
- every write lands while the API server's Lease of that tenant's shard (the leader's for objects of no tenant)
  names the replica that made it — no write from a replica that does not hold the shard;
- a replica that dies (its Leases left to expire, as after SIGKILL) loses its shards to the others within one
  lease duration, and a commit to one of its tenants converges;
- a replica that joins receives its share, and every shard that moved went to it;
- a replica that stops cleanly hands its shards over at once, not after a lease duration;
- each replica's watch cache holds the objects of its shards' tenants and of no other tenant (after a death and a
  join moved shards);
- each shard's audit chain, and the main one, verify;
- a leader whose membership Lease can no longer be renewed gives the leader's Lease up, so the other replicas
  (which take and write no shard while a non-member leads) take every shard and converge its tenants.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import git
import pytest
from kubernetes import client

from controlplane.audit import JsonlStore
from reconciler import sharding
from reconciler.auditstore import ClusterStore, chains
from reconciler.backends.base import BackendError, Outcome, Status
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.fencing import Fence
from reconciler.gitsync import GitSource
from reconciler.lane import Lane
from reconciler.leader import LeaderElector
from reconciler.leases import LeaseConfig
from reconciler.loop import LoopConfig
from reconciler.passaudit import PassAudit
from reconciler.passes import Reconciler, Settings
from reconciler.shardedloop import ShardedLoop
from reconciler.shardleases import ShardConfig, ShardSet
from tests.integration import configrepo
from tests.integration.attacks import owners
from tests.integration.reconcile_support import mlcp, wait_for

pytestmark = pytest.mark.integration
SHARDS = 6
DURATION = 6.0
RETRY = 0.8


@dataclass
class Replica:
    who: str
    loop: ShardedLoop
    thread: threading.Thread
    writes: list[tuple[str, str]] = field(default_factory=list)


class Cluster:
    """The replicas of one test and what the API server says about their Leases."""

    def __init__(self, repo: configrepo.ConfigRepo, kubeconfig: Path, tmp: Path, admin: client.ApiClient) -> None:
        self.repo, self.kubeconfig, self.tmp = repo, kubeconfig, tmp
        self.leases = client.CoordinationV1Api(admin)
        self.replicas: dict[str, Replica] = {}
        self.violations: list[str] = []

    def kube(self) -> KubeClient:
        return KubeClient.from_kubeconfig(str(self.kubeconfig), None, self.repo.system_ns)

    def lease(self, name: str) -> client.V1Lease:
        return self.leases.read_namespaced_lease(name, self.repo.system_ns)

    def holder(self, lease: str) -> str | None:
        try:
            found = self.leases.read_namespaced_lease(lease, self.repo.system_ns)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found.spec.holder_identity  # type: ignore[no-any-return]

    def start(self, who: str) -> Replica:
        targets = self.repo.targets(self.kubeconfig)
        audit = ClusterStore(self.kube())
        reconciler = Reconciler(
            GitSource(str(self.repo.root), "main", self.tmp / who), Settings(targets, identity=who, watch=True), audit
        )
        lease = LeaseConfig(self.repo.system_ns, who, duration=DURATION, renew_deadline=4.0, retry_period=RETRY)
        elector = LeaderElector(self.kube(), lease)
        shards = ShardSet(self.kube(), ShardConfig(SHARDS, lease))
        chain_kube = self.kube()
        loop = ShardedLoop(
            reconciler, LoopConfig(interval=1.0), shards, elector, lambda chain: ClusterStore(chain_kube, chain)
        )
        thread = threading.Thread(target=loop.run, name=f"replica-{who}", daemon=True)
        replica = Replica(who, loop, thread)
        reconciler.observers.append(lambda outcome: self._check_write(replica, outcome))
        self.replicas[who] = replica
        thread.start()
        return replica

    def _check_write(self, replica: Replica, outcome: Outcome) -> None:
        """Called as each write is reported: the Lease of the object's shard must name the writer now."""
        if outcome.status not in (Status.applied, Status.deleted) or outcome.change.ref.system != "kubernetes":
            return
        shard = sharding.shard_of(outcome.change.tenant, SHARDS)
        lease = "mlcp-reconciler" if shard == sharding.PLATFORM else sharding.lease_name(shard)
        holder = self.holder(lease)
        replica.writes.append((lease, str(outcome.change.ref)))
        if holder != replica.who:
            self.violations.append(f"{replica.who} wrote {outcome.change.ref} while {lease} was held by {holder}")

    def crash(self, who: str) -> None:
        """Stop a replica the way SIGKILL does: its Leases are not released, they expire."""
        replica = self.replicas.pop(who)
        loop = replica.loop
        loop.shards.release_all = lambda: None  # type: ignore[method-assign]
        loop.elector.release = lambda: None  # type: ignore[method-assign]
        loop.stop()
        replica.thread.join(timeout=60)
        assert not replica.thread.is_alive()

    def leave(self, who: str) -> None:
        replica = self.replicas.pop(who)
        replica.loop.stop()
        replica.thread.join(timeout=60)
        assert not replica.thread.is_alive()

    def stop_all(self) -> None:
        for replica in self.replicas.values():
            replica.loop.stop()
        for replica in self.replicas.values():
            replica.thread.join(timeout=60)

    def owners(self) -> dict[int, list[str]]:
        """Shard → the replicas that may write it now (asked of each replica itself)."""
        out: dict[int, list[str]] = {}
        for replica in list(self.replicas.values()):
            for shard in replica.loop.shards.held():
                out.setdefault(shard, []).append(replica.who)
        return out

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            wait_for(check, timeout, what)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; shards held: {self.held()}, leaving: {self.leaving()}, last passes: {self.results()}"
            ) from None

    def results(self) -> dict[str, dict[str, str]]:
        return {
            r.who: {lane: f"{p.error or 'ok'} failed={p.failed} held={p.held}" for lane, p in r.loop.last.items()}
            for r in self.replicas.values()
        }

    def leaving(self) -> dict[str, set[int]]:
        return {r.who: set(r.loop.shards.leaving) for r in self.replicas.values()}

    def held(self) -> dict[str, set[int]]:
        return {r.who: set(r.loop.shards.held()) for r in self.replicas.values()}

    def counts(self) -> list[int]:
        return sorted(len(shards) for shards in self.held().values())

    def cached_tenants(self, namespaces: dict[str, str]) -> dict[str, set[str]]:
        """Per replica, the tenants (by their namespaces: `namespaces` maps one to its tenant) of whose objects its
        watch cache holds any."""
        found: dict[str, set[str]] = {}
        for replica in list(self.replicas.values()):
            backend = replica.loop.reconciler.backends.get("kubernetes")
            cache = backend.cache if backend is not None else None  # type: ignore[attr-defined]
            held = cache.snapshot() if cache is not None else None
            objects = held[0] if held is not None else {}
            spaces = {ref.namespace or (ref.name if ref.kind == "Namespace" else None) for ref in objects}
            found[replica.who] = {namespaces[ns] for ns in spaces if ns in namespaces}
        return found

    def scoped(self, namespaces: dict[str, str]) -> bool:
        """Whether every replica's watch cache holds its shards' tenants' objects and no other tenant's."""
        cached = self.cached_tenants(namespaces)
        for who, shards in self.held().items():
            if cached.get(who) != {t for t in namespaces.values() if sharding.shard_of(t, SHARDS) in shards}:
                return False
        return True

    def settled(self) -> bool:
        owners = self.owners()
        return sorted(owners) == list(range(SHARDS)) and all(len(w) == 1 for w in owners.values())


@pytest.fixture
def cluster(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient
) -> Iterator[tuple[Cluster, list[str]]]:
    repo = configrepo.make(tmp_path, prefix)
    tenants = [repo.vision, repo.nlp]
    tenants += [repo.add_tenant(f"t{i}") for i in range(10)]
    repo.commit("ten more tenants")
    made = Cluster(repo, kubeconfig, tmp_path, k8s_admin)
    sampling = threading.Event()

    def sample() -> None:  # at most one writer per shard, at every moment
        while not sampling.wait(0.05):
            for shard, writers in made.owners().items():
                if len(writers) > 1:
                    made.violations.append(f"shard {shard} writable by {writers}")

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield made, tenants
    finally:
        sampling.set()
        sampler.join(timeout=5)
        made.stop_all()


def _namespaces(core: client.CoreV1Api, tenants: list[str]) -> set[str]:
    found = core.list_namespace(label_selector=f"mlcp.dev/tenant in ({','.join(tenants)})").items
    return {ns.metadata.name for ns in found}


def test_three_replicas_divide_the_tenants_hand_over_a_dead_ones_and_rebalance_for_a_new_one(
    cluster: tuple[Cluster, list[str]], k8s_admin: client.ApiClient
) -> None:
    made, tenants = cluster
    core = client.CoreV1Api(k8s_admin)
    for who in ("r1", "r2", "r3"):
        made.start(who)
    made.wait(lambda: made.settled() and made.counts() == [2, 2, 2], 90, "three replicas to divide the shards")
    made.wait(lambda: _namespaces(core, tenants) >= set(tenants[2:]), 120, "every tenant's namespace")
    writers = {r.who for r in made.replicas.values() if r.writes}
    assert len(writers) >= 2, "the work was divided"

    # r3 dies: its shards move to r1 and r2 within one lease duration (+ the renewals that notice it)
    before = made.held()
    lost = before["r3"]
    made.crash("r3")
    died = time.monotonic()
    renewed = {shard: made.lease(sharding.lease_name(shard)).spec.renew_time for shard in lost}  # r3's last renewals
    made.wait(made.settled, 30, "the survivors to take r3's shards")
    took = time.monotonic() - died
    # Timed by the Leases themselves: from r3's last renewal of each shard to its new holder's acquireTime (both
    # written by this machine's clock), so the test's own polling on a loaded machine is not counted. One lease
    # duration, plus a retry period to notice the record stood still and one to take it, plus two rounds of
    # Lease requests to a loaded API server (the bound was 9 s of the test's own time: flaky under load).
    for shard in lost:
        lease = made.lease(sharding.lease_name(shard))
        moved = (lease.spec.acquire_time - renewed[shard]).total_seconds()
        assert lease.spec.holder_identity in ("r1", "r2") and moved > DURATION - 1.0, (shard, moved)
        assert moved < DURATION + 2 * RETRY + 2.0, (
            f"shard {shard} moved {moved:.1f}s after r3's last renewal (the test saw all moved after {took:.1f}s)"
        )
    assert made.counts() == [3, 3]
    assert all(before[w] <= made.held()[w] for w in ("r1", "r2")), "only r3's shards moved"
    orphans = [t for t in tenants[2:] if sharding.shard_of(t, SHARDS) in lost]
    assert orphans, "some of the added tenants were r3's"
    made.repo.path(f"tenants/{orphans[0]}/quota.yaml").write_text(QUOTA)
    made.repo.commit(f"a quota for {orphans[0]}, whose shard r3 held")
    wait_for(lambda: _quota(core, orphans[0]), 90, "the dead replica's tenant to converge")

    # r4 joins: it takes only the shards it wins, the others keep theirs
    before = made.held()
    made.start("r4")
    made.wait(lambda: made.settled() and made.counts() == [2, 2, 2], 90, "r4 to receive its share")
    after = made.held()
    assert all(after[w] <= before[w] for w in ("r1", "r2")), "the others only handed shards over"
    assert after["r4"] == (before["r1"] - after["r1"]) | (before["r2"] - after["r2"]), "every moved shard went to r4"
    _shards_agree_with_the_replicas(made, orphans[0])
    # each replica's watch cache: its shards' tenants' objects, none of another's (routed by mlcp's records)
    labelled = core.list_namespace(label_selector=f"mlcp.dev/tenant in ({','.join(tenants)})").items
    namespaces = {ns.metadata.name: ns.metadata.labels["mlcp.dev/tenant"] for ns in labelled}
    made.wait(
        lambda: made.scoped(namespaces),
        30,
        f"each cache to hold its shards' tenants: {made.cached_tenants(namespaces)}",
    )

    # r1 stops cleanly (SIGTERM): it releases its Leases, so the others need not wait a lease duration
    made.leave("r1")
    left = time.monotonic()
    made.wait(lambda: made.settled() and made.counts() == [3, 3], 30, "r2 and r4 to take r1's shards")
    assert time.monotonic() - left < DURATION, "a clean stop hands over at once, not after the lease duration"

    assert not made.violations, made.violations[:5]
    kube = made.kube()
    for chain in ["", *chains(kube)]:
        assert ClusterStore(kube, chain).verify().ok, f"chain {chain or 'main'} verifies"
    assert any(c.startswith("shard-") for c in chains(kube))
    verified = mlcp(
        "audit", "verify", "--kubeconfig", str(made.kubeconfig), "--controller-namespace", made.repo.system_ns,
        "--anchor", "cluster", "-o", "json",
    )  # fmt: skip
    stdout, stderr = verified.communicate(timeout=120)  # type: ignore[attr-defined]
    assert verified.returncode == 0, stderr.decode()[-2000:]  # type: ignore[attr-defined]
    report = json.loads(stdout)
    assert report["ok"] and report["chains"] and all(c["ok"] and c["count"] for c in report["chains"])


def _shards_agree_with_the_replicas(made: Cluster, tenant: str) -> None:
    """`mlcp shards` (the operator's view, from the Leases alone) names the holder each replica says it is."""
    shown = mlcp(
        "shards", "--kubeconfig", str(made.kubeconfig), "--controller-namespace", made.repo.system_ns,
        "--tenant", tenant, "-o", "json",
    )  # fmt: skip
    stdout, stderr = shown.communicate(timeout=60)  # type: ignore[attr-defined]
    assert shown.returncode == 0, stderr.decode()[-2000:]  # type: ignore[attr-defined]
    report = json.loads(stdout)
    held = made.held()
    holders = {shard: who for who, shards in held.items() for shard in shards}
    assert report["sharded"] and report["shards"] == SHARDS and report["agree"], report
    assert {m["identity"] for m in report["members"] if not m["expired"]} == set(held), report["members"]
    assert {lease["shard"]: lease["holder"] for lease in report["leases"] if not lease["expired"]} == holders
    [entry] = report["tenants"]
    assert entry == {"tenant": tenant, "shard": sharding.shard_of(tenant, SHARDS), "holder": holders[entry["shard"]]}
    assert report["leader"]["holder"] in held, "one of the live replicas leads"


QUOTA = """apiVersion: mlcp.dev/v1alpha1
kind: Quota
metadata:
  name: compute
spec:
  hard:
    requests.cpu: "4"
"""


def _quota(core: client.CoreV1Api, namespace: str) -> bool:
    return bool(core.list_namespaced_resource_quota(namespace).items)


def test_a_shards_lane_judges_a_tenants_changes_with_its_membership_change_in_sight(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    """The membership change is the platform lane's, but the shard's lane must still see it: an owner allowed to
    change every kind of her tenant may not add people, so the RoleBinding naming the newcomer is not written."""
    repo = configrepo.make(tmp_path, prefix)
    policy = repo.path("policies/access.yaml")
    policy.write_text(owners.with_catch_all_owners(policy.read_text(encoding="utf-8")), encoding="utf-8")
    repo.initial = repo.commit("owners may change everything in their tenants")
    reconciler = Reconciler(
        GitSource(str(repo.root), "main", tmp_path / "work"),
        Settings(repo.targets(kubeconfig)),
        JsonlStore(tmp_path / "main.jsonl"),
    )
    shard = sharding.shard_of(repo.vision, SHARDS)
    audit = PassAudit(JsonlStore(tmp_path / "shard.jsonl"), reconciler.metrics, "r1", f"shard-{shard}")
    lane = Lane(audit, Fence(), lambda key: sharding.shard_of(key or None, SHARDS) == shard, False, str(shard))
    first = reconciler.run_pass(lane)
    assert first.error is None, first.error

    tenant = f"tenants/{repo.vision}/tenant.yaml"
    repo.edit(
        tenant,
        "    - name: bob@example.com\n",
        "    - name: dave@example.com\n      role: edit\n    - name: bob@example.com\n",
    )
    repo.commit("vision: dave joins", author=git.Actor("Alice", "alice@example.com"))
    result = reconciler.run_pass(lane)
    bindings = client.RbacAuthorizationV1Api(k8s_admin).list_namespaced_role_binding(repo.vision).items
    assert "dave@example.com" not in {s.name for b in bindings for s in (b.subjects or [])}, "no RoleBinding names him"
    assert repo.vision in result.failed and "TenantMembership" in result.failed[repo.vision], result.failed


class _Unreachable:
    """A client whose every request fails: what the membership Lease's renewals meet when they cannot get through
    (the shards thread wedged on a slow API server, the Lease taken by another process under the same name)."""

    def request(self, *_args: object, **_kwargs: object) -> dict[str, object]:
        raise BackendError("the membership Lease cannot be renewed (cut by the test)")


def test_a_leader_whose_membership_lapsed_gives_up_the_leaders_lease_so_no_shard_stalls(
    cluster: tuple[Cluster, list[str]], k8s_admin: client.ApiClient
) -> None:
    """r1 leads and its membership renewals start failing while its leader's Lease renews. The others count it
    gone, so they see the leader's Lease held by a non-member (an `mlcp apply`, for all they can tell) and take and
    write no shard; r1 writes none either (fenced by its membership). Every tenant stalled until r1 died. A replica
    that cannot renew its membership must stop renewing the leader's Lease too: r2 then leads and takes every
    shard, and a commit to a tenant r1 held converges."""
    made, tenants = cluster
    core = client.CoreV1Api(k8s_admin)
    first = made.start("r1")
    made.wait(lambda: first.loop.elector.may_write() and made.settled(), 60, "r1 to lead and hold every shard")
    second = made.start("r2")
    made.wait(lambda: made.settled() and made.counts() == [3, 3], 90, "two replicas to divide the shards")
    made.wait(lambda: _namespaces(core, tenants) >= set(tenants[2:]), 120, "every tenant's namespace")
    lost = made.held()["r1"]

    first.loop.shards.member.kube = _Unreachable()  # type: ignore[assignment]
    made.wait(lambda: made.held()["r2"] == set(range(SHARDS)), 60, "r2 to take every shard (r1's included)")
    made.wait(second.loop.elector.may_write, 30, "r2 to lead")
    assert not first.loop.elector.may_write() and not made.held()["r1"], "r1 writes nothing while not a member"
    orphan = next(t for t in tenants[2:] if sharding.shard_of(t, SHARDS) in lost)
    made.repo.path(f"tenants/{orphan}/quota.yaml").write_text(QUOTA)
    made.repo.commit(f"a quota for {orphan}, whose shard the lapsed leader held")
    made.wait(lambda: _quota(core, orphan), 90, "the lapsed leader's tenant to converge")
    assert not made.violations, made.violations[:5]
