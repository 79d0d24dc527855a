"""What one sharded replica holds, by part, with its watch cache scoped to its shards and without.

`benchmarks/sharding.py` measures the replicas' RSS against a real API server; this says where a replica's
bytes are. It converges N tenants (9 objects each, `devenv.tenantrepo.make_repo`) into the in-memory client
(tests/reconciler/memkube.py: not an API server, but the real Kubernetes backend, inventory pieces, loader
and lanes), then runs one replica holding 3 of 8 shards — the platform lane and its shards' lanes, with the
real watch cache over the in-memory client's lists and watches — once caching every object and once scoped
(`Reconciler.holds`), and prints the deep size of what each part holds (an object shared by two parts counts
once, for the first). Not a test: nothing is asserted.

Usage: .venv/bin/python benchmarks/replica_memory.py [--tenants 2000] [--work DIR]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from memory import deep_size  # noqa: E402

from controlplane.audit import JsonlStore  # noqa: E402
from devenv import tenantrepo  # noqa: E402
from reconciler import engine, sharding  # noqa: E402
from reconciler.backends.kubernetes import KubernetesBackend  # noqa: E402
from reconciler.backends.kubernetes_client import KubeClient  # noqa: E402
from reconciler.fencing import Fence  # noqa: E402
from reconciler.gitsync import GitSource  # noqa: E402
from reconciler.lane import Lane  # noqa: E402
from reconciler.passaudit import PassAudit  # noqa: E402
from reconciler.passes import Reconciler, Settings  # noqa: E402
from tests.reconciler.memkube import MemoryKube  # noqa: E402

SHARDS, HELD, NAMESPACE = 8, frozenset({0, 1, 2}), "mlcp-bench-replica"


def _settings(root: Path) -> Settings:
    head = tenantrepo.git(root, "rev-parse", "HEAD")
    targets = engine.Targets("/nowhere", controller_namespace=NAMESPACE, trusted_base=head)
    return Settings(targets, events=False, watch=True, resync=1e9, prune=True)


def seed(kube: MemoryKube, root: Path, work: Path) -> None:
    """Every tenant converged by one unsharded pass (its watch: the in-memory client's synced view)."""
    real_watch = KubernetesBackend.watch

    def synced(backend: KubernetesBackend) -> Any:
        backend.cache = kube.cache()  # type: ignore[assignment]
        return backend.cache

    KubernetesBackend.watch = synced  # type: ignore[method-assign,assignment]
    try:
        began = time.monotonic()
        first = Reconciler(
            GitSource(str(root), "main", work / "clone-seed"), _settings(root), JsonlStore(work / "seed.jsonl")
        )
        result = first.run_pass()
        first.close()
        print(f"seeded: {len(result.outcomes)} writes in {time.monotonic() - began:.0f}s, converged {result.converged}")
    finally:
        KubernetesBackend.watch = real_watch  # type: ignore[method-assign]


def replica(root: Path, work: Path, scoped: bool) -> dict[str, int]:
    """One replica's passes of the platform lane and its 3 shards; the deep size of each part it then holds."""
    name = "scoped" if scoped else "whole"
    rec = Reconciler(
        GitSource(str(root), "main", work / f"clone-{name}"), _settings(root), JsonlStore(work / f"{name}.jsonl")
    )
    if scoped:
        rec.holds = lambda tenant: sharding.shard_of(tenant, SHARDS) in HELD

    def lane(shard: str, covers: Any, platform: bool) -> Lane:
        audit = PassAudit(JsonlStore(work / f"{name}-{shard}.jsonl"), rec.metrics, "bench", f"shard-{shard}")
        return Lane(audit, Fence(), covers, platform, shard)

    lanes = [lane("platform", lambda key: not key, True)]
    lanes += [lane(str(s), lambda key, s=s: sharding.shard_of(key or None, SHARDS) == s, False) for s in sorted(HELD)]
    for each in lanes:
        result = rec.run_pass(each)
        if result.error:
            raise SystemExit(f"{name} replica's pass of {each.name} failed: {result.error}")
    backend = rec.backends["kubernetes"]
    assert isinstance(backend, KubernetesBackend) and backend.cache is not None
    seen: set[int] = set()
    sizes = {
        "objects cached": backend.cache.stats()[0],  # type: ignore[attr-defined]
        "live objects (watch cache)": deep_size([backend.cache.kinds], seen),  # type: ignore[attr-defined]
        "inventory (records, refs)": deep_size([backend._inventory], seen),
        "inventory pieces and encoders": deep_size([backend._pieces], seen),
        "desired state (the revision)": deep_size([rec.desired_cache.parts], seen),
        "the rest of the reconciler": deep_size([rec], seen),
    }
    rec.close()
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=2000)
    parser.add_argument("--work", type=Path, help="a directory for the repo and clones (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mlcp-replica-memory-"))
    root = work / "repo"
    if not root.exists():
        tenantrepo.make_repo(root, "t", args.tenants, NAMESPACE)
    kube = MemoryKube(NAMESPACE)
    KubeClient.connect = classmethod(lambda _cls, _targets: kube)  # type: ignore[method-assign,assignment]
    seed(kube, root, work)
    gc.collect()
    whole = replica(root, work, scoped=False)
    gc.collect()
    scoped = replica(root, work, scoped=True)
    print(f"\n{args.tenants} tenants; one replica holding shards {sorted(HELD)} of {SHARDS} (deep sizes, MB)")
    print(f"{'':32} {'whole cluster':>14} {'scoped':>10}")
    for part in whole:
        unit = 1 if part == "objects cached" else 1e6
        print(f"{part:32} {whole[part] / unit:>14.1f} {scoped[part] / unit:>10.1f}")


if __name__ == "__main__":
    main()
