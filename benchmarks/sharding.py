"""Three replicas of `mlcp reconcile --shards S` at scale: each replica's memory, and the failover of one.

Builds N tenants (9 objects each, as benchmarks/plan_apply.py) in a config repo
and runs 3 replicas of `mlcp reconcile --shards S` against one API server, each
a child process of its own started with the arguments the sharded Deployment
gives its pods (deploy/kustomize/sharded: --interval 30s, --audit-log cluster,
--lease-duration 15s by default). It reports:

  * the initial convergence: seconds from the start until every shard's holder logged a pass of that shard
    that converged at the repo's revision ("pass done", converged), with progress; then one LIST checks that
    every tenant's last object (its NetworkPolicy) is in the API server. Replicas start about together, but the
    first may take every shard before the others join: those are handed over between passes, so before the kill
    the run also waits for each replica to hold its fair share and for each moved shard's new holder to converge
    it (reported as "settled");
  * per replica: shards and tenants it holds, and its own peak RSS (VmHWM from /proc/PID/status, read while it
    runs: a child's peak starts afresh at exec, so each figure is that replica's alone);
  * the failover: one replica that does not hold the leader's Lease (with --kill-leader: the one that does, so the
    platform lane moves too) is killed with SIGKILL (its Leases are left to expire, as when a node dies), and
    right after the kill one commit changes every tenant it held (member role edit → view: a new RoleBinding
    `mlcp-view` each). Measured from the kill:
      - "shards held": until every shard Lease of the killed replica names a surviving replica;
      - "tenants converged": until a survivor logged, for each of those shards, a pass at the new commit that
        converged it (so applied the change to each of its tenants); then one LIST checks that each of those
        tenants' `mlcp-view` RoleBinding is really in the API server;
    and shard moves: the shards whose holder changed (only the killed replica's should), against the survivors'
    own `mlcp_reconcile_shard_moves_total{direction="taken"}`.
Not a test: targets are printed, not asserted. A replica that exits, a phase that times out, or a request to
the API server that fails (each has a timeout) ends the run with exit 1, the reason and the tail of the replicas'
logs; the replicas are stopped in every case.

With `--seed`, one `mlcp apply` of the same repo (the same audit log, the cluster's) creates every tenant's
objects before the replicas start, and is timed and printed on its own: the replicas' initial convergence is then
their first (no-op) passes. What the acceptance asks, per-replica RSS and the failover, is measured the same way
either way: the commit after the kill still changes every tenant the killed replica held. Without it the replicas
create the 90,001 objects of 10,000 tenants themselves, most of the run's time.

Usage: .venv/bin/python benchmarks/sharding.py [--tenants 10000] [--shards 8] [--lease-duration 15]
       [--seed] [--kill-leader] [--timeout 2400] [--json FILE]
       [--use-kubeconfig]   (starts its own local API server without MLflow, or uses $KUBECONFIG)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

NAMESPACE = "mlcp-bench-shards"
PREFIX = "sb"
REPLICAS = ("r1", "r2", "r3")
LIMIT_MB = 1024
"""The shipped Deployment's memory limit (deploy/): each replica must stay under it."""
LEADER_LEASE = "mlcp-reconciler"
POLL = 0.5
API_TIMEOUT = 120
"""Seconds any one request of the benchmark's own to the API server may take (a LIST of 10,000 RoleBindings)."""


@dataclass(frozen=True)
class Pass:
    """A pass of one shard, as its replica logged it ("pass done")."""

    replica: str
    shard: str
    revision: str
    converged: bool
    at: float
    """When it ended (the log's wall-clock time, seconds since the epoch)."""
    failed: tuple[str, ...] = ()
    """The tenants that did not converge (each replica's log says why: "tenant failed")."""


@dataclass
class Replica:
    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]
    peak_mb: float = 0.0
    exited: bool = False
    _read: int = 0
    passes: list[Pass] = field(default_factory=list)

    def read_passes(self) -> list[Pass]:
        """The passes this replica logged since the last call (and all of them in `passes`)."""
        with self.log.open("rb") as stream:
            stream.seek(self._read)
            chunk = stream.read()
        end = chunk.rfind(b"\n") + 1
        self._read += end
        new = []
        for line in chunk[:end].splitlines():
            if b'"pass done"' not in line:
                continue
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
            failed = tuple(entry.get("failedTenants") or ())
            shard, revision = str(entry.get("shard")), str(entry.get("revision"))
            new.append(Pass(self.name, shard, revision, entry["converged"], at, failed))
        self.passes += new
        return new

    def sample(self) -> float:
        """The process's peak RSS so far (VmHWM, MB); kept after it exits."""
        if not self.exited:
            self.peak_mb = max(self.peak_mb, _status_mb(self.process.pid, "VmHWM"))
        return self.peak_mb

    def rss(self) -> float:
        return 0.0 if self.exited else _status_mb(self.process.pid, "VmRSS")

    def taken(self) -> int:
        """Shards this replica took so far, from its own metric."""
        return int(self.metric('mlcp_reconcile_shard_moves_total{direction="taken"}'))

    def cached(self) -> int:
        """Objects in this replica's watch cache (its shards' tenants' and the shared ones), from its own metric."""
        return int(self.metric("mlcp_reconcile_watch_cache_objects"))

    def metric(self, series: str) -> float:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith(f"{series} "):
                return float(line.split()[-1])
        return 0.0


def _status_mb(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Failed(Exception):
    """The benchmark could not measure what it measures: the reason is printed."""


@dataclass
class Bench:
    kubeconfig: str
    tenants: list[str]
    shards: int
    work: Path
    lease_duration: float
    replicas: dict[str, Replica] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from kubernetes import client, config

        api = config.new_client_from_config(self.kubeconfig)  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(api)
        self.leases = client.CoordinationV1Api(api)
        self.rbac = client.RbacAuthorizationV1Api(api)
        self.repo = self.work / "repo"

    # -- the replicas ----------------------------------------------------------------------------------------

    def start(self, name: str, trusted: str) -> Replica:
        """One replica, as the sharded Deployment runs it (deploy/kustomize/sharded/deployment-shards.yaml)."""
        port = _free_port()
        argv = [
            sys.executable, "-m", "controlplane", "reconcile",
            "--repo", str(self.repo), "--branch", "main", "--interval", "30s",
            "--listen", f"127.0.0.1:{port}", "--workdir", str(self.work / name),
            "--audit-log", "cluster", "--shards", str(self.shards),
            "--identity", name, "--namespace", NAMESPACE, "--controller-namespace", NAMESPACE,
            "--kubeconfig", self.kubeconfig, "--trusted-base", trusted,
            "--lease-duration", f"{self.lease_duration:g}s",
        ]  # fmt: skip
        log = self.work / f"{name}.log"
        with log.open("wb") as stream:
            process = subprocess.Popen(argv, stdout=stream, stderr=subprocess.STDOUT, cwd=self.work)
        replica = Replica(name, port, log, process)
        self.replicas[name] = replica
        return replica

    def check_alive(self) -> None:
        for replica in self.replicas.values():
            replica.sample()
            if not replica.exited and replica.process.poll() is not None:
                raise Failed(f"replica {replica.name} exited with {replica.process.returncode}")

    def stop(self) -> None:
        """SIGTERM every replica still running (after reading its peak), and wait for them."""
        for replica in self.replicas.values():
            if not replica.exited and replica.process.poll() is None:
                replica.sample()
                replica.process.send_signal(signal.SIGTERM)
        for replica in self.replicas.values():
            try:
                replica.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait()
            replica.exited = True

    def tails(self, lines: int = 15) -> str:
        parts = []
        for replica in self.replicas.values():
            text = replica.log.read_text(errors="replace").splitlines() if replica.log.exists() else []
            parts.append(f"--- {replica.name} ({replica.log}), last {lines} lines:\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    # -- what the API server says ----------------------------------------------------------------------------

    def holders(self) -> dict[str, str | None]:
        """Lease name → holder (None: none, or released), for the shard Leases and the leader's."""
        from kubernetes import client

        found: dict[str, str | None] = {}
        items: list[client.V1Lease] = self.leases.list_namespaced_lease(NAMESPACE, _request_timeout=API_TIMEOUT).items
        for lease in items:
            name = str(lease.metadata.name if lease.metadata else "")
            if name.startswith("mlcp-shard-") or name == LEADER_LEASE:
                found[name] = (lease.spec.holder_identity if lease.spec else None) or None
        return found

    def shard_holders(self) -> dict[int, str | None]:
        from reconciler import sharding

        leases = self.holders()
        return {s: leases.get(sharding.lease_name(s)) for s in range(self.shards)}

    def converged(
        self, shards: list[int], revision: str, holders: dict[int, str | None], after: float
    ) -> dict[int, float]:
        """Shard → when its holder (as `holders` says) logged a pass of it at `revision` that converged, ended
        after `after` (wall clock); only the shards of `shards` that have one."""
        for replica in self.replicas.values():
            replica.read_passes()
        done: dict[int, float] = {}
        for shard in shards:
            holder = self.replicas.get(holders.get(shard) or "")
            ends = [
                p.at
                for p in (holder.passes if holder else [])
                if p.shard == str(shard) and p.revision == revision and p.converged and p.at > after
            ]
            if ends:
                done[shard] = min(ends)
        return done

    def stuck(self, shards: list[int], done: dict[int, float]) -> str:
        """The shards not converged yet whose last pass left tenants failed, and one of those tenants each."""
        last: dict[str, Pass] = {}
        for replica in self.replicas.values():
            for p in replica.passes:
                if p.shard.isdigit() and int(p.shard) in shards and int(p.shard) not in done:
                    last[p.shard] = max(last.get(p.shard, p), p, key=lambda q: q.at)
        failing = [f"shard {s} ({len(p.failed)} failed, e.g. {p.failed[0]})" for s, p in last.items() if p.failed]
        return "; last passes left tenants failed in " + ", ".join(failing) if failing else ""

    def balanced(self, holders: dict[int, str | None]) -> bool:
        """Every shard held, and every live replica within its fair share (reconciler.sharding.fair_share)."""
        from reconciler import sharding

        live = [r.name for r in self.replicas.values() if not r.exited]
        low, high = sharding.fair_share(self.shards, len(live))
        counts = [sum(1 for h in holders.values() if h == name) for name in live]
        return all(h in live for h in holders.values()) and all(low <= c <= high for c in counts)

    def count(self, kind: str, name: str) -> set[str]:
        """The namespaces holding an object `name` of `kind` (RoleBinding or NetworkPolicy), by one LIST."""
        from kubernetes import client

        field_selector = f"metadata.name={name}"
        if kind == "RoleBinding":
            bindings = self.rbac.list_role_binding_for_all_namespaces(
                field_selector=field_selector, _request_timeout=API_TIMEOUT
            ).items
            return {str(b.metadata.namespace if b.metadata else "") for b in bindings}
        networking = client.NetworkingV1Api(self.core.api_client)
        policies = networking.list_network_policy_for_all_namespaces(
            field_selector=field_selector, _request_timeout=API_TIMEOUT
        ).items
        return {str(p.metadata.namespace if p.metadata else "") for p in policies}

    def owned(self, holders: dict[int, str | None]) -> dict[str, list[str]]:
        """Replica → the tenants of the shards it holds."""
        from reconciler import sharding

        out: dict[str, list[str]] = {name: [] for name in self.replicas}
        for tenant in self.tenants:
            holder = holders.get(sharding.shard_of(tenant, self.shards))
            if holder in out:
                out[holder].append(tenant)
        return out

    def wait(
        self, done: Callable[[], bool], timeout: float, what: str, progress: Callable[[], str], since: float
    ) -> None:
        """Until `done()`; progress every 15 s (seconds since `since`); Failed on a dead replica or the timeout."""
        began = shown = time.monotonic()
        while not done():
            self.check_alive()
            now = time.monotonic()
            if now - began > timeout:
                raise Failed(f"{what}: not done after {timeout:.0f} s ({progress()})")
            if now - shown >= 15:
                print(f"  {now - since:6.0f}s  {progress()}", flush=True)
                shown = now
            time.sleep(POLL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _git(repo: Path, *argv: str) -> str:
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    done = subprocess.run(["git", *identity, *argv], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _ensure_namespace(bench: Bench) -> None:
    """The controller namespace, as `kubectl apply -k deploy/...` makes it before the pods start."""
    from kubernetes import client

    try:
        namespace = client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
        bench.core.create_namespace(namespace, _request_timeout=API_TIMEOUT)
    except client.ApiException as exc:
        if exc.status != 409:
            raise


def run(bench: Bench, timeout: float, kill_leader: bool, seed: bool) -> dict[str, Any]:
    """The whole run: (seed,) converge, settle, kill one replica, fail over; the figures."""
    from devenv.tenantrepo import make_repo

    make_repo(bench.repo, PREFIX, len(bench.tenants), NAMESPACE)
    _ensure_namespace(bench)
    seeded = _seed(bench, timeout) if seed else None
    initial, settled = converge(bench, timeout)
    return {"seed_s": seeded, "initial_s": initial, "settled_s": settled, **fail_over(bench, kill_leader)}


def _seed(bench: Bench, timeout: float) -> float:
    """One `mlcp apply` of the repo before the replicas start (as an operator's first apply would); its seconds."""
    env = {
        **os.environ,
        "KUBECONFIG": bench.kubeconfig,
        "MLCP_CONTROLLER_NAMESPACE": NAMESPACE,
        "MLCP_TRUSTED_BASE": _git(bench.repo, "rev-parse", "HEAD"),
        "MLCP_AUDIT_LOG": "cluster",
    }
    argv = [sys.executable, "-m", "controlplane", "apply", str(bench.repo), "--yes", "--concurrency", "32"]
    print(f"seeding: one `mlcp apply` of the {len(bench.tenants)} tenants (--seed)", flush=True)
    began = time.monotonic()
    log = bench.work / "seed.log"
    try:
        with log.open("wb") as stream:
            done = subprocess.run(argv, env=env, stdout=stream, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise Failed(f"the seeding apply did not finish within {timeout:.0f} s; its log: {_tail(log)}") from None
    if done.returncode != 0:
        raise Failed(f"the seeding apply exited with {done.returncode}: {_tail(log)}")
    seconds = time.monotonic() - began
    print(f"seeded in {seconds:.0f}s", flush=True)
    return seconds


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(none)"


def converge(bench: Bench, timeout: float) -> tuple[float, float]:
    """Start the replicas on the repo; (seconds until it converged, seconds until it settled)."""
    n = len(bench.tenants)
    first = _git(bench.repo, "rev-parse", "HEAD")
    everything = list(range(bench.shards))
    began, wall = time.monotonic(), time.time()
    for name in REPLICAS:
        bench.start(name, first)

    def progress() -> str:
        holders = bench.shard_holders()
        done = bench.converged(everything, first, holders, wall)
        rss = ", ".join(f"{r.name} {r.rss():.0f} MB" for r in bench.replicas.values())
        converged = f"{len(done)}/{bench.shards} shards converged by their holder"
        return f"{converged}; shards {_counts(holders)}; RSS {rss}{bench.stuck(everything, done)}"

    def all_converged() -> bool:
        return len(bench.converged(everything, first, bench.shard_holders(), wall)) == bench.shards

    print(f"{n} tenants, {bench.shards} shards, 3 replicas: converging (progress every 15 s)", flush=True)
    bench.wait(all_converged, timeout, "initial convergence", progress, began)
    holders = bench.shard_holders()
    initial = max(bench.converged(everything, first, holders, wall).values()) - wall
    missing = set(bench.tenants) - bench.count("NetworkPolicy", "mlcp-isolation")
    if missing:
        raise Failed(
            f"every shard converged, but {len(missing)} tenants lack their NetworkPolicy: {sorted(missing)[:5]}"
        )
    print(f"converged in {initial:.0f}s (shards {_counts(holders)}); waiting for the fair share", flush=True)
    bench.wait(lambda: bench.balanced(bench.shard_holders()) and all_converged(), timeout, "settling", progress, began)
    return initial, time.monotonic() - began


def fail_over(bench: Bench, kill_leader: bool) -> dict[str, Any]:
    """Kill the replica holding the most tenants among those not leading (or the leader), commit a change to each
    of its tenants, and measure until the survivors hold its shards and converged them."""
    holders = bench.shard_holders()
    owned = bench.owned(holders)
    before = {name: replica.sample() for name, replica in bench.replicas.items()}
    leader = bench.holders().get(LEADER_LEASE)
    candidates = [r for r in REPLICAS if (r == leader) == kill_leader]
    if not candidates:
        raise Failed(f"no replica to kill: the leader's Lease is held by {leader!r}")
    victim = max(candidates, key=lambda r: (len(owned[r]), r))
    lost = sorted(s for s, h in holders.items() if h == victim)
    orphans = owned[victim]
    survivors = [r for r in REPLICAS if r != victim]
    taken = {r: bench.replicas[r].taken() for r in survivors}
    cached = {r: replica.cached() for r, replica in bench.replicas.items()}
    print(f"settled (shards {_counts(holders)}); killing {victim} (shards {lost}, {len(orphans)} tenants)", flush=True)

    killed = bench.replicas[victim]
    killed.sample()
    kill_time, kill_wall = time.monotonic(), time.time()
    killed.process.send_signal(signal.SIGKILL)
    killed.process.wait()
    killed.exited = True
    _change(bench.repo, orphans)
    second = _git(bench.repo, "rev-parse", "HEAD")
    commit_s = time.monotonic() - kill_time

    def moved() -> bool:
        now = bench.shard_holders()
        return all(now[s] in survivors for s in lost)

    def failing_over() -> str:
        now = bench.shard_holders()
        done = bench.converged(lost, second, now, kill_wall)
        held = f"shards {lost} of {victim} held by {[now[s] for s in lost]}"
        return f"{held}; {len(done)} converged at the new commit{bench.stuck(lost, done)}"

    window = 4 * bench.lease_duration + 600
    bench.wait(moved, window, "the survivors taking the killed replica's shards", failing_over, kill_time)
    held_s = time.monotonic() - kill_time
    after = bench.shard_holders()
    bench.wait(lambda: len(bench.converged(lost, second, after, kill_wall)) == len(lost), window, "failover",
               failing_over, kill_time)  # fmt: skip
    converged_s = max(bench.converged(lost, second, after, kill_wall).values()) - kill_wall
    missing = set(orphans) - bench.count("RoleBinding", "mlcp-view")
    if missing:
        raise Failed(f"the shards converged, but {len(missing)} changed tenants lack mlcp-view: {sorted(missing)[:5]}")
    after = bench.shard_holders()
    moves = sorted(s for s in range(bench.shards) if after[s] != holders[s])
    metric_moves = sum(bench.replicas[r].taken() - taken[r] for r in survivors)
    cached_after = {r: bench.replicas[r].cached() for r in survivors}
    owned_after = bench.owned(after)
    bench.stop()
    return {
        "tenants": len(bench.tenants),
        "shards": bench.shards,
        "leader": leader,
        "victim": victim,
        "lost": lost,
        "orphans": len(orphans),
        "commit_s": commit_s,
        "held_s": held_s,
        "converged_s": converged_s,
        "moves": moves,
        "metric_moves": metric_moves,
        "replicas": {
            name: {
                "shards": sorted(s for s, h in holders.items() if h == name),
                "tenants": len(owned[name]),
                "peak_before_kill_mb": before[name],
                "cached_objects": cached[name],
                "cached_objects_after": cached_after.get(name, 0),
                "peak_mb": replica.peak_mb,
                "shards_after": sorted(s for s, h in after.items() if h == name) if name != victim else [],
                "tenants_after": len(owned_after.get(name, [])) if name != victim else 0,
            }
            for name, replica in bench.replicas.items()
        },
    }


def _counts(holders: dict[int, str | None]) -> str:
    counts: dict[str, int] = {}
    for holder in holders.values():
        counts[holder or "nobody"] = counts.get(holder or "nobody", 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none yet"


def _change(repo: Path, tenants: list[str]) -> None:
    """One commit: every given tenant's member becomes a viewer (a new RoleBinding `mlcp-view` each)."""
    for tenant in tenants:
        spec = repo / "tenants" / tenant / "tenant.yaml"
        spec.write_text(spec.read_text().replace("role: edit", "role: view"))
    _git(repo, "commit", "-qam", f"{len(tenants)} members become viewers")


def report(result: dict[str, Any], lease_duration: float) -> None:
    ok = {True: "✓", False: "✗"}
    if result.get("seed_s") is not None:
        seeded = f"one `mlcp apply` created every tenant's objects in {result['seed_s']:.0f}s"
        print(f"\nseeded (--seed): {seeded} before the replicas started; their initial convergence below is their "
              "first passes over a seeded cluster")  # fmt: skip
    print(f"\n{result['tenants']} tenants, {result['shards']} shards, 3 replicas; initial convergence "
          f"{result['initial_s']:.0f}s, settled (fair shares, moved shards converged) at {result['settled_s']:.0f}s; "
          f"leader (platform lane): {result['leader']}")  # fmt: skip
    print(f"{'replica':8} {'shards':>18} {'tenants':>8} {'cached':>7} {'peak RSS MB':>12}  {'after the kill':>26} "
          f"{'cached':>7}  target")  # fmt: skip
    for name, r in result["replicas"].items():
        peak = r["peak_mb"]
        killed = name == result["victim"]
        after = "killed" if killed else f"{r['shards_after']} {r['tenants_after']}"
        print(
            f"{name:8} {r['shards']!s:>18} {r['tenants']:>8} {r['cached_objects']:>7} {peak:>12.0f}  {after:>26} "
            f"{'' if killed else r['cached_objects_after']:>7}  < {LIMIT_MB} MB {ok[peak < LIMIT_MB]}"
        )
    lost, moves = result["lost"], result["moves"]
    limit = lease_duration + 2 * lease_duration / 7  # + the retry period that notices, + the last renewal's age
    print(f"killed {result['victim']} (SIGKILL): shards {lost}, {result['orphans']} tenants; "
          f"the commit changing each of them landed {result['commit_s']:.1f}s after the kill")  # fmt: skip
    held = result["held_s"]
    print(f"  shards held by survivors:         {held:6.1f} s  (target: one lease duration, {lease_duration:g} s, "
          f"+ two retry periods: < {limit:.1f} s {ok[held < limit]})")  # fmt: skip
    print(f"  killed replica's tenants converged: {result['converged_s']:5.1f} s  (a survivor's pass of each of its "
          "shards converged at the new commit; each tenant's mlcp-view RoleBinding in the API server)")  # fmt: skip
    print(f"  shard moves: {len(moves)} {moves} (Leases); survivors' metric: {result['metric_moves']} taken; "
          f"only the killed replica's {ok[moves == lost]}")  # fmt: skip
    print("peak RSS: each replica's own process (VmHWM), over the whole run; times measured from the SIGKILL")
    print(f"cached: objects in the replica's watch cache before the kill and after the failover "
          f"(mlcp_reconcile_watch_cache_objects; {_managed(result['tenants'])} managed objects in all)")  # fmt: skip
    import machine

    print(machine.conditions())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=10000)
    parser.add_argument("--shards", type=int, default=8, help="as deploy/kustomize/sharded")
    parser.add_argument("--lease-duration", type=float, default=15.0, help="seconds, as the Deployment's default")
    parser.add_argument(
        "--timeout", type=float, default=2400.0, help="for the seeding apply, the initial convergence and settling, s"
    )
    parser.add_argument(
        "--seed", action="store_true", help="create the tenants' objects with one `mlcp apply` before the replicas"
    )
    parser.add_argument("--use-kubeconfig", action="store_true", help="use $KUBECONFIG instead of a new local env")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--kill-leader",
        action="store_true",
        help="kill the replica holding the leader's Lease (its platform lane moves too) instead of another one",
    )
    args = parser.parse_args()
    tenants = [f"{PREFIX}{i:05d}" for i in range(args.tenants)]
    with tempfile.TemporaryDirectory(prefix="mlcp-bench-shards-") as tmp:
        if args.use_kubeconfig:
            _main(os.environ["KUBECONFIG"], tenants, args, Path(tmp))
            return
        from devenv.environment import Environment

        with Environment(mlflow=False, workflows=False) as env:
            _main(str(env.kubeconfig), tenants, args, Path(tmp))


def _main(kubeconfig: str, tenants: list[str], args: argparse.Namespace, work: Path) -> None:
    bench = Bench(kubeconfig, tenants, args.shards, work, args.lease_duration)
    try:
        result = run(bench, args.timeout, args.kill_leader, args.seed)
    except Failed as exc:
        print(f"benchmark failed: {exc}\n{bench.tails()}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception as exc:  # a request that timed out or failed: say which, never hang
        print(f"benchmark failed: {type(exc).__name__}: {exc}\n{bench.tails()}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        bench.stop()
    report(result, args.lease_duration)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


def _managed(tenants: int) -> int:
    """How many Kubernetes objects mlcp manages for `tenants` benchmark tenants: one tenant's, rendered, times N."""
    from devenv.tenantrepo import make_repo
    from reconciler import engine

    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "one"
        make_repo(root, PREFIX, 1, NAMESPACE)
        one = sum(o.ref.system == "kubernetes" for o in engine.load_desired(root).objects)
    return one * tenants


if __name__ == "__main__":
    main()
