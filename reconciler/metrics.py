"""Prometheus metrics of the reconcile loop, on a registry of its own.

A registry per loop (not the process-wide default) lets several loops run in
one process — tests, benchmarks — without clashing names, and keeps
/metrics to what an operator alerts on: is it passing, how long, what did it
change, what did it refuse, which tenants fail, how old is what is live, who
leads, and at scale how the work is divided (shards, their tenants and pass
times, moves, the queue) and what the watch cache holds.

Labels are bounded and never text from the config repo: shards are numbered up to --shards, every other label
is one of a few words mlcp chooses. Failing tenants are counted, not named (their names are in the logs and
the audit log): a tenant's name is a folder any committer may create, and as a label each new name was a series
kept for the life of the process, and a name that is not UTF-8 made every scrape fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PREFIX = "mlcp_reconcile"


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.passes = Counter(f"{PREFIX}_passes", "Reconcile passes by result.", ["result"], registry=r)
        self.duration = Histogram(
            f"{PREFIX}_pass_duration_seconds",
            "Duration of a reconcile pass (fetch, load, plan, apply, audit).",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.objects = Counter(
            f"{PREFIX}_objects", "Object changes attempted, by action and result.", ["action", "result"], registry=r
        )
        self.drift = Counter(f"{PREFIX}_drift_corrections", "Live objects changed outside git, put back.", registry=r)
        self.denials = Counter(f"{PREFIX}_denials", "Changes refused by the access policy.", registry=r)
        self.errors = Counter(
            f"{PREFIX}_errors",
            "Failures by stage: of the whole pass (fetch, validate, plan, apply, audit), or one per tenant that "
            "failed in a pass (tenant).",
            ["stage"],
            registry=r,
        )
        self.last_success = Gauge(
            f"{PREFIX}_last_success_timestamp_seconds", "When a pass last converged every tenant.", registry=r
        )
        self.revision_time = Gauge(
            f"{PREFIX}_last_applied_revision_timestamp_seconds",
            "Commit time of the revision last applied to every tenant.",
            registry=r,
        )
        self.leader = Gauge(f"{PREFIX}_leader", "1 while this replica holds the lease.", registry=r)
        self.backing_off = Gauge(
            f"{PREFIX}_tenants_backing_off",
            "Tenants failing: held back after failures until a pass converges them (their names are in the logs).",
            registry=r,
        )
        self.audit_writable = Gauge(
            f"{PREFIX}_audit_log_writable",
            "1 while the audit log takes records; 0 after a failed append (nothing is applied until it works).",
            registry=r,
        )
        self.audit_writable.set(1)
        self.audit_failures = Counter(
            f"{PREFIX}_audit_log_failures", "Passes stopped because the audit log could not be written.", registry=r
        )
        self.record_problems = Gauge(
            f"{PREFIX}_record_problems",
            "Problems the last pass found in mlcp's own records (an inventory piece edited out of band or missing).",
            registry=r,
        )
        self.requests = Gauge(
            f"{PREFIX}_api_requests_last_pass", "Kubernetes API requests sent by the last pass.", registry=r
        )

        self.shard_tenants = Gauge(
            f"{PREFIX}_shard_tenants",
            "Tenants in each shard this replica holds (with --shards).",
            ["shard"],
            registry=r,
        )
        self.shard_duration = Histogram(
            f"{PREFIX}_shard_pass_duration_seconds",
            "Duration of one shard's pass (\"platform\": the leader's objects of no tenant).",
            ["shard"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.shards_held = Gauge(f"{PREFIX}_shards_held", "Shards whose Lease this replica holds.", registry=r)
        self.shard_moves = Counter(
            f"{PREFIX}_shard_moves",
            "Shards this replica took (direction=taken) or gave up (direction=given).",
            ["direction"],
            registry=r,
        )
        self.queue_depth = Gauge(
            f"{PREFIX}_queue_depth",
            "Lanes (shards, the platform) due for a pass, the one starting included: 0 only while this replica "
            "has nothing due.",
            registry=r,
        )
        self.watch_objects = Gauge(
            f"{PREFIX}_watch_cache_objects", "Objects held in the watch cache (with --watch).", registry=r
        )
        self.watch_bytes = Gauge(
            f"{PREFIX}_watch_cache_bytes",
            "The watch cache's objects as JSON, in bytes (estimated from a sample of them).",
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
