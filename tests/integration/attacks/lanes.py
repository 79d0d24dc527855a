"""A sharded replica's lanes, driven as `ShardedLoop._round` drives them, for attacks through the loop.

One `Reconciler` (one loader, one backoff tracker, one memory) runs the platform lane and one lane per shard, in
`_round`'s order: the platform first, then the shards by number, every lane fenced as always writable (the Leases
are not what these attacks are about). The replica judges by the last applied revision, as in production; its
clock moves a long way between rounds, so every backoff is over and every held tenant is tried again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.audit import JsonlStore
from reconciler import sharding
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.fencing import Fence
from reconciler.gitsync import GitSource
from reconciler.lane import Lane
from reconciler.passaudit import PassAudit
from reconciler.passes import Reconciler, Settings
from reconciler.shardedloop import PLATFORM
from reconciler.state import StateStore
from reconciler.verdicts import PassResult
from tests.integration.attacks.gitattack import Operator


@dataclass
class Replica:
    """The lanes of one replica that holds the leader's Lease and every shard."""

    reconciler: Reconciler
    lanes: list[Lane]
    audits: dict[str, Path]
    now: list[float] = field(default_factory=lambda: [1_000.0])

    def round(self) -> dict[str, PassResult]:
        """One pass of every lane, platform first; each lane's result by name."""
        self.now[0] += 10_000.0
        return {lane.name: self.reconciler.run_pass(lane) for lane in self.lanes}

    def rounds(self, count: int) -> list[dict[str, PassResult]]:
        return [self.round() for _ in range(count)]

    def close(self) -> None:
        self.reconciler.close()

    def revisions(self, op: Operator) -> dict[str, str]:
        """The per-tenant revisions as the lanes recorded them (ConfigMap mlcp-reconciler-state)."""
        kube = KubeClient.from_kubeconfig(str(op.kubeconfig), None, op.repo.repo.system_ns)
        return StateStore(kube).read().by_tenant


def replica(op: Operator, tmp_path: Path, shards: int) -> Replica:
    """A replica with the platform lane and `shards` shard lanes, judging by the last applied revision."""
    now = [1_000.0]
    # the cluster alone: MLflow is shared by the session's tests, whose objects this replica would see as its own
    targets = op.repo.repo.targets(op.kubeconfig, trusted=False)
    rec = Reconciler(
        GitSource(str(op.repo.root), "main", tmp_path / "replica"),
        Settings(targets, events=False, resync=1e9, identity="replica-0"),
        JsonlStore(tmp_path / "platform.jsonl"),
        clock=lambda: now[0],
    )
    audits = {PLATFORM: tmp_path / "platform.jsonl"}
    platform = Lane(rec.pass_audit, Fence(), lambda key: not key, True, PLATFORM)
    lanes = [platform]
    for shard in range(shards):
        name = str(shard)
        audits[name] = tmp_path / f"shard-{shard}.jsonl"
        audit = PassAudit(JsonlStore(audits[name]), rec.metrics, "replica-0", f"shard-{shard}")
        lanes.append(Lane(audit, Fence(), _covers(shard, shards), False, name))
    return Replica(rec, lanes, audits, now)


def _covers(shard: int, shards: int) -> Callable[[str], bool]:
    """Whether a key is `shard`'s, as `ShardedLoop._shard_lane` decides it."""
    return lambda key: sharding.shard_of(key or None, shards) == shard
